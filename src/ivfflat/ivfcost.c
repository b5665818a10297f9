/*
 * ivfcost.c
 *	  amcostestimate: what an ORDER BY ... LIMIT through the lists costs.
 *
 * The index is only useful for ordering, so a path without ORDER BY is
 * priced out.  A scan does all its work before the first row: a distance
 * to every centroid, then the probed lists' share of the rows (a distance
 * each, at the index's dimensions: VecKernelCost, as the sequential scan's
 * distances are priced by vector_distance_support) and of the pages (a
 * list's pages follow one another: a random read to reach each list, then
 * sequential ones).  So the startup cost is nearly the total, and the
 * planner compares it with a sequential scan and a top-N sort: the index
 * wins when the probes cover a small part of the lists, and loses on a
 * tiny table or when they cover most of them.  The number of lists is the
 * metapage's, which may be fewer than the option asked for.
 */
#include "compat.h"

#include <math.h>

#include "access/genam.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"
#include "utils/selfuncs.h"
#include "utils/spccache.h"

#include "ivfflat.h"

/* The lists the build made; 0 when the metapage cannot be read as ours. */
static double
metaLists(Relation index)
{
	Buffer		buf;
	Page		page;
	IvfMetaPage meta;
	double		nlists = 0;

	if (RelationGetNumberOfBlocks(index) <= IVF_METAPAGE_BLKNO)
		return 0;
	buf = ReadBuffer(index, IVF_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	meta = IvfPageGetMeta(page);
	if (IvfPageIs(page, IVF_PAGE_META) && meta->magic == IVF_MAGIC &&
		meta->nlists >= 1 && meta->nlists <= IVF_MAX_LISTS)
		nlists = meta->nlists;
	UnlockReleaseBuffer(buf);
	return nlists;
}

void
ivfcostestimate(PlannerInfo *root, IndexPath *path, double loop_count,
				Cost *indexStartupCost, Cost *indexTotalCost,
				Selectivity *indexSelectivity, double *indexCorrelation,
				double *indexPages)
{
	double		ntuples;
	double		lists;
	double		probed;
	double		ratio;
	double		distance_cost;
	double		spc_random_page_cost;
	double		spc_seq_page_cost;
	const VecTypeOps *ops;
	VecMetric	metric;
	Relation	index;

	if (!VecCostStart(root, path, loop_count, indexStartupCost, indexTotalCost,
					  indexSelectivity, indexCorrelation, indexPages, &ntuples,
					  &spc_random_page_cost))
		return;
	get_tablespace_page_costs(path->indexinfo->reltablespace, NULL, &spc_seq_page_cost);

	index = index_open(path->indexinfo->indexoid, NoLock);
	ops = VecIndexTypeOps(index, &metric);
	distance_cost = cpu_operator_cost +
		VecKernelCost(ops, Max(TupleDescAttr(RelationGetDescr(index), 0)->atttypmod, 0));
	lists = metaLists(index);
	if (lists == 0)
		lists = index->rd_options ? ((IvfOptions *) index->rd_options)->lists : IVF_DEFAULT_LISTS;
	index_close(index, NoLock);

	lists = Max(Min(lists, ntuples), 1);
	probed = Min(ivf_probes, lists);
	ratio = probed / lists;

	*indexStartupCost = lists * distance_cost +
		ratio * ntuples * (distance_cost + cpu_index_tuple_cost) +
		probed * spc_random_page_cost + ratio * *indexPages * spc_seq_page_cost;
	/* then handing out the rows, in heap order from a heap */
	*indexTotalCost = *indexStartupCost + ratio * ntuples * cpu_operator_cost * log2(Max(ratio * ntuples, 2));
	*indexPages *= ratio;
}
