/*
 * hnswcost.c
 *	  amcostestimate: what an ORDER BY ... LIMIT through the graph costs.
 *
 * The index is only useful for ordering, so a path without ORDER BY is
 * priced out.  Otherwise the startup cost is the search that yields the
 * first batch: the descent through the upper levels plus about
 * ef_search * 3m scored nodes (2m per layer-0 node, m per node of the
 * level-1 beam), capped by the table size.  A scored node
 * costs a distance at the index's dimensions (VecKernelCost, as the
 * sequential scan's distances are priced by vector_distance_support), an
 * index tuple, and its share of a page read from cache, which grows with
 * the node's size.  Every row past the first batch costs a share of
 * another batch: the rows a filter removes are paid for, so with LIMIT k
 * and a filter that keeps a fraction s of the rows, the planner pays
 * startup + k / (s N) of the rest.  A filter that keeps few rows (or a
 * large LIMIT) then makes an exact plan cheaper, as it is; on a tiny table
 * a sequential scan and a sort win.
 *
 * m, the levels and the node size come from the metapage: the graph is
 * what the build made, whatever ALTER INDEX SET (m = ...) said since.
 */
#include "compat.h"

#include <math.h>

#include "access/genam.h"
#include "catalog/pg_statistic.h"
#include "catalog/pg_type.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "parser/parsetree.h"
#include "storage/bufmgr.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/selfuncs.h"
#include "utils/spccache.h"
#include "utils/syscache.h"

#include "hnsw.h"

/*
 * The geometry the metapage records; false (outputs untouched) when it
 * cannot be read as ours, which is for a scan to report, not the planner.
 */
static bool
metaGeometry(Relation index, int *m, int *entry_level, double *node_bytes)
{
	Buffer		buf;
	Page		page;
	HnswMetaPage meta;
	bool		ok = false;

	if (RelationGetNumberOfBlocks(index) <= HNSW_METAPAGE_BLKNO)
		return false;
	buf = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	meta = HnswPageGetMeta(page);
	if (HnswPageIs(page, HNSW_PAGE_META) && meta->magic == HNSW_MAGIC &&
		meta->m >= HNSW_MIN_M && meta->m <= HNSW_MAX_M &&
		meta->entry_level <= HNSW_MAX_LEVEL)
	{
		*m = meta->m;
		*entry_level = meta->entry_level;
		*node_bytes = meta->node_size;
		ok = true;
	}
	UnlockReleaseBuffer(buf);
	return ok;
}

/*
 * The average number of distinct elements in the arrays of heap column
 * attnum (the last number of its DECHIST statistics), or 3 without them.
 */
static double
arrayElements(PlannerInfo *root, IndexOptInfo *index, AttrNumber attnum)
{
	RangeTblEntry *rte = planner_rt_fetch(index->rel->relid, root);
	double		n = 3;
	HeapTuple	tup;
	AttStatsSlot sslot;

	if (attnum <= 0 || rte->rtekind != RTE_RELATION)
		return n;
	tup = SearchSysCache3(STATRELATTINH, ObjectIdGetDatum(rte->relid),
						  Int16GetDatum(attnum), BoolGetDatum(rte->inh));
	if (!HeapTupleIsValid(tup))
		return n;
	if (get_attstatsslot(&sslot, tup, STATISTIC_KIND_DECHIST, InvalidOid, ATTSTATSSLOT_NUMBERS))
	{
		if (sslot.nnumbers > 0)
			n = Max(sslot.numbers[sslot.nnumbers - 1], 0);
		free_attstatsslot(&sslot);
	}
	ReleaseSysCache(tup);
	return n;
}

/*
 * How many times the rows a scan's conditions keep does the index pass?
 * A condition on an array column passes rows wrongly (hnswfilter.c): a
 * row of n distinct elements sets a share p = 1 - (63/64)^3n of the
 * signature's 64 bits, so it has one query element's three bits with
 * probability p^3, and q elements' (@>) about p^3q.  Such a row is scored
 * and fetched like one that matches.  Other conditions pass what they keep.
 */
static double
falsePassFactor(PlannerInfo *root, IndexPath *path)
{
	IndexOptInfo *index = path->indexinfo;
	double		factor = 1;
	ListCell   *lc;

	foreach(lc, path->indexclauses)
	{
		IndexClause *ic = lfirst_node(IndexClause, lc);
		RestrictInfo *rinfo = linitial_node(RestrictInfo, ic->indexquals);
		OpExpr	   *op = (OpExpr *) rinfo->clause;
		Node	   *arg;
		double		q = 1;
		double		p;
		double		fp;
		double		s;

		if (ic->indexcol == 0 || index->opcintype[ic->indexcol] != ANYARRAYOID ||
			!IsA(op, OpExpr) || list_length(op->args) != 2)
			continue;
		arg = lsecond(op->args);
		if (IsA(arg, Const) && !((Const *) arg)->constisnull)
		{
			ArrayType  *arr = DatumGetArrayTypeP(((Const *) arg)->constvalue);

			q = Max(ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr)), 1);
		}
		p = 1 - pow(63.0 / 64.0, 3 * arrayElements(root, index, index->indexkeys[ic->indexcol]));
		if (get_op_opfamily_strategy(op->opno, index->opfamily[ic->indexcol]) == HNSW_STRATEGY_CONTAINS)
			fp = pow(p, 3 * q);
		else
			fp = Min(1.0, q * p * p * p);
		s = clauselist_selectivity(root, list_make1(rinfo), index->rel->relid, JOIN_INNER, NULL);
		s = Max(s, 1.0 / Max(index->rel->tuples, 1));
		factor *= Min(1.0 / s, 1 + fp / s);
	}
	return factor;
}

void
hnswcostestimate(PlannerInfo *root, IndexPath *path, double loop_count,
				 Cost *indexStartupCost, Cost *indexTotalCost,
				 Selectivity *indexSelectivity, double *indexCorrelation,
				 double *indexPages)
{
	double		ntuples;
	int			m = HNSW_DEFAULT_M;
	int			entry_level = -1;
	double		node_bytes = 0;
	double		dim;
	double		scored;
	double		sel;
	double		levels;
	double		per_node;
	double		spc_random_page_cost;
	const VecTypeOps *ops;
	VecMetric	metric;
	Relation	index;

	if (!VecCostStart(root, path, loop_count, indexStartupCost, indexTotalCost,
					  indexSelectivity, indexCorrelation, indexPages, &ntuples,
					  &spc_random_page_cost))
		return;

	index = index_open(path->indexinfo->indexoid, NoLock);
	ops = VecIndexTypeOps(index, &metric);
	dim = Max(TupleDescAttr(RelationGetDescr(index), 0)->atttypmod, 0);
	if (!metaGeometry(index, &m, &entry_level, &node_bytes))
		node_bytes = ops->item_size((int) dim) + 8 * m;
	index_close(index, NoLock);

	/* an out-of-line item (sparsevec) is read from its own page too */
	if (ops->item_len)
	{
		node_bytes += 8.0 * 100;
		dim = 100;				/* non-zeros */
	}

	levels = entry_level >= 0 ? entry_level + 1 : Max(1, log(ntuples) / log(m));

	/* layer 0, the level-1 beam that seeds it (HnswSeedSearch), the descent */
	scored = Min(ntuples, hnsw_ef_search * 3.0 * m + levels * m);
	sel = Max(*indexSelectivity, 1.0 / ntuples);

	/*
	 * A node's page is usually cached: a twentieth of a random page read
	 * for each page's worth of node, at least a hundredth for the lookup.
	 * (A twentieth per node made a 320-candidate search on 18,000 rows look
	 * dearer than a sequential scan that took 30 times as long.)  The size
	 * counts: a search of 6,000 rows took 0.5 ms at 384 dimensions and 1.2
	 * ms at 1536, mostly reading the nodes, not computing the distances.
	 */
	per_node = VecKernelCost(ops, dim) + cpu_index_tuple_cost +
		spc_random_page_cost * Max(0.01, 0.05 * node_bytes / BLCKSZ);

	if (sel >= 1.0)
	{
		*indexStartupCost = levels * spc_random_page_cost + scored * per_node;
		*indexTotalCost = *indexStartupCost +
			Max(ntuples - hnsw_ef_search, 0) * per_node * scored / Max(hnsw_ef_search, 1);
		return;
	}

	/*
	 * Conditions on filter columns (hnswfilter.c), keeping a share sel of
	 * the rows: a pass over every node's tag entry, a tenth of an operator
	 * each (a word of 64 ids is compared at a time: 100,000 entries took
	 * 0.18 ms on sift-128), and a cached read of each tag page; then, when no
	 * more rows match than a walk would score, each of them scored (the
	 * scan is exact, and its rows are all in its first batch); else the
	 * walk on the matching nodes, which also reads the lists of the
	 * neighbours it skips, about as many as it scores.
	 */
	{
		double		nmatch = Max(1.0, sel * ntuples);
		double		pass = falsePassFactor(root, path);
		double		npass = Min(ntuples, nmatch * pass);
		double		tags = ntuples * cpu_operator_cost * 0.1 +
			spc_random_page_cost * 0.05 * ceil(ntuples * 4.0 / BLCKSZ);

		/* a row passed wrongly is also fetched, and rejected */
		per_node += (pass - 1) / pass * (cpu_tuple_cost + cpu_operator_cost + spc_random_page_cost * 0.05);
		if (npass <= scored)
		{
			*indexStartupCost = tags + npass * per_node;
			*indexTotalCost = *indexStartupCost;
			return;
		}

		/*
		 * The walk: rows passed wrongly count towards ef_search, so it
		 * goes on for pass times as many (a scan on an array condition
		 * goes on until hnsw.max_scan_tuples, hnswscan.c).
		 */
		*indexStartupCost = tags + levels * spc_random_page_cost +
			Min(2 * scored * pass, Max(hnsw_max_scan_tuples, scored)) * per_node;
		*indexTotalCost = *indexStartupCost +
			Max(nmatch - hnsw_ef_search, 0) * per_node * 2 * scored * pass / Max(hnsw_ef_search, 1);
	}
}
