/*
 * hnswcost.c
 *	  amcostestimate: what an ORDER BY ... LIMIT through the graph costs.
 *
 * The index is only useful for ordering, so a path without ORDER BY is
 * priced out.  Otherwise the startup cost is the search that yields the
 * first batch: the descent through the upper levels plus about
 * ef_search * 2m scored nodes (each a random page and a distance), capped
 * by the table size.  Every further row costs a share of another batch.
 * With LIMIT k the planner pays startup + k/N of the rest, so a small LIMIT
 * on a large table picks the index and a tiny table or a large LIMIT picks
 * a sequential scan and a sort, which is then cheaper.
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

#include "hnsw.h"

void
hnswcostestimate(PlannerInfo *root, IndexPath *path, double loop_count,
				 Cost *indexStartupCost, Cost *indexTotalCost,
				 Selectivity *indexSelectivity, double *indexCorrelation,
				 double *indexPages)
{
	double		ntuples;
	double		m = HNSW_DEFAULT_M;
	double		scored;
	double		levels;
	double		per_node;
	double		spc_random_page_cost;
	Relation	index;

	if (!VecCostStart(root, path, loop_count, indexStartupCost, indexTotalCost,
					  indexSelectivity, indexCorrelation, indexPages, &ntuples,
					  &spc_random_page_cost))
		return;

	index = index_open(path->indexinfo->indexoid, NoLock);
	if (index->rd_options)
		m = ((HnswOptions *) index->rd_options)->m;
	index_close(index, NoLock);

	levels = Max(1, log(ntuples) / log(m));
	scored = Min(ntuples, hnsw_ef_search * 2 * m + levels * m);
	/* a distance on a page that is usually cached: part random I/O */
	per_node = cpu_operator_cost * 4 + spc_random_page_cost * 0.05 + cpu_index_tuple_cost;

	*indexStartupCost = levels * spc_random_page_cost + scored * per_node;
	*indexTotalCost = *indexStartupCost + ntuples * per_node * scored / Max(hnsw_ef_search, 1);
}
