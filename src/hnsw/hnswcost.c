/*
 * hnswcost.c
 *	  amcostestimate: what an ORDER BY ... LIMIT through the graph costs.
 *
 * The index is only useful for ordering, so a path without ORDER BY is
 * priced out.  Otherwise the startup cost is the search that yields the
 * first batch: the descent through the upper levels plus about
 * ef_search * 2m scored nodes (each a random page and a distance), capped
 * by the table size.  A LIMIT within ef_search costs that alone; beyond it
 * every further row costs a share of another batch.  With LIMIT k the
 * planner pays startup + k/N of the rest, so a small LIMIT on a large table
 * picks the index and a tiny table or a large LIMIT picks a sequential scan
 * and a sort, which is then cheaper.
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
	/*
	 * A distance on a page that is usually cached, and shared with other
	 * scored nodes: a small part of a random page read.  (A twentieth made
	 * a 320-candidate search on 18,000 rows look dearer than a sequential
	 * scan that took 30 times as long.)
	 */
	per_node = cpu_operator_cost * 4 + spc_random_page_cost * 0.01 + cpu_index_tuple_cost;

	*indexStartupCost = levels * spc_random_page_cost + scored * per_node;
	/*
	 * A LIMIT that one batch serves (the usual k <= ef_search) is the
	 * startup cost alone, whatever k: the rows of the batch are scored
	 * already.  Past the first batch every row costs a share of another
	 * batch, which a larger or unknown LIMIT pays; then a sequential scan
	 * and a sort win on a smaller table.
	 */
	if (root->limit_tuples > 0 && root->limit_tuples <= hnsw_ef_search)
		*indexTotalCost = *indexStartupCost + ntuples * cpu_index_tuple_cost;
	else
		*indexTotalCost = *indexStartupCost + ntuples * per_node * scored / Max(hnsw_ef_search, 1);
}
