/*
 * ivfcost.c
 *	  amcostestimate: what an ORDER BY ... LIMIT through the lists costs.
 *
 * The index is only useful for ordering, so a path without ORDER BY is
 * priced out.  A scan does all its work before the first row: a distance
 * to every centroid, then the probed lists' share of the pages (scattered:
 * random reads) and of the rows (a distance each).  So the startup cost is
 * nearly the total, and the planner compares it with a sequential scan and
 * a top-N sort: the index wins on a large table with few probes, and loses
 * on a tiny table or when the probes cover most of the lists.
 */
#include "compat.h"

#include <math.h>

#include "access/genam.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "utils/rel.h"
#include "utils/selfuncs.h"
#include "utils/spccache.h"

#include "ivfflat.h"

void
ivfcostestimate(PlannerInfo *root, IndexPath *path, double loop_count,
				Cost *indexStartupCost, Cost *indexTotalCost,
				Selectivity *indexSelectivity, double *indexCorrelation,
				double *indexPages)
{
	double		ntuples;
	double		lists = IVF_DEFAULT_LISTS;
	double		ratio;
	double		distance_cost = cpu_operator_cost * 4;
	double		spc_random_page_cost;
	Relation	index;

	if (!VecCostStart(root, path, loop_count, indexStartupCost, indexTotalCost,
					  indexSelectivity, indexCorrelation, indexPages, &ntuples,
					  &spc_random_page_cost))
		return;

	index = index_open(path->indexinfo->indexoid, NoLock);
	if (index->rd_options)
		lists = ((IvfOptions *) index->rd_options)->lists;
	index_close(index, NoLock);

	lists = Max(Min(lists, ntuples), 1);
	ratio = Min((double) ivf_probes / lists, 1.0);

	*indexStartupCost = lists * distance_cost +
		ratio * ntuples * (distance_cost + cpu_index_tuple_cost) +
		ratio * *indexPages * spc_random_page_cost;
	/* then handing out the rows, in heap order from a heap */
	*indexTotalCost = *indexStartupCost + ratio * ntuples * cpu_operator_cost * log2(Max(ratio * ntuples, 2));
	*indexPages *= ratio;
}
