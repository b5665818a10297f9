/*
 * filterquals.c
 *	  Index conditions on hnsw filter columns that PostgreSQL 15 (and, for
 *	  IN lists, 16) does not make by itself.
 *
 * An hnsw scan applies = on its filter columns while it walks, so that
 * ef_search counts matching rows (src/hnsw/hnswfilter.c).  Two kinds of
 * condition the index serves never reach it before PostgreSQL 17:
 *
 * - col IN (...) / col = ANY (array) on a column after the first: the
 *   planner then assumes the index returns rows out of order (true of a
 *   btree, which scans each array element apart) and keeps the condition
 *   above an ordered scan.  hnsw takes the whole array at once
 *   (amsearcharray), so its order holds.
 * - WHERE flag, WHERE NOT flag (what flag = true becomes): before 16 only
 *   btree and hash operator families are tried for them.
 *
 * So after the planner has made its paths for a table, this hook adds,
 * beside each ordered unparameterized hnsw path, one with these conditions
 * as index clauses, and lets add_path keep the cheaper.  The executor
 * already hands SK_SEARCHARRAY keys to an AM with amsearcharray, and the
 * original clause is left out of the scan's filter because the index
 * clause names it.
 */
#include "compat.h"

#include "catalog/pg_operator.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/restrictinfo.h"
#include "utils/lsyscache.h"

#include "filterquals.h"
#include "hnsw.h"

#if VEC_PLANNER_NEEDS_FILTER_QUALS

static set_rel_pathlist_hook_type prev_rel_pathlist_hook = NULL;

/*
 * An IN list on filter column indexcol: col = ANY (array), the array not
 * depending on the table (a constant, a parameter, an outer reference
 * this path does not need).
 */
static bool
matchSaop(PlannerInfo *root, RestrictInfo *rinfo, IndexOptInfo *index, int indexcol)
{
	ScalarArrayOpExpr *saop;

	if (!IsA(rinfo->clause, ScalarArrayOpExpr))
		return false;
	saop = (ScalarArrayOpExpr *) rinfo->clause;
	return saop->useOr && list_length(saop->args) == 2 &&
		bms_equal(rinfo->clause_relids, index->rel->relids) &&
		match_index_to_operand(linitial(saop->args), indexcol, index) &&
		!bms_is_member(index->rel->relid, pull_varnos(root, lsecond(saop->args))) &&
		!contain_volatile_functions(lsecond(saop->args)) &&
		op_in_opfamily(saop->opno, index->opfamily[indexcol]);
}

/*
 * WHERE col, or WHERE NOT col, on a bool filter column: the index's
 * col = true or col = false, as PostgreSQL 16 forms it for every family.
 */
static Expr *
matchBool(RestrictInfo *rinfo, IndexOptInfo *index, int indexcol)
{
#if VEC_PLANNER_NEEDS_BOOL_QUALS
	Node	   *clause = (Node *) rinfo->clause;
	bool		value = true;

	if (index->opcintype[indexcol] != BOOLOID ||
		!op_in_opfamily(BooleanEqualOperator, index->opfamily[indexcol]))
		return NULL;
	if (is_notclause(clause))
	{
		clause = (Node *) get_notclausearg((Expr *) clause);
		value = false;
	}
	if (!match_index_to_operand(clause, indexcol, index))
		return NULL;
	return make_opclause(BooleanEqualOperator, BOOLOID, false, (Expr *) clause,
						 (Expr *) makeBoolConst(value, false), InvalidOid, InvalidOid);
#else
	return NULL;
#endif
}

/* Is rinfo already an index clause of path? */
static bool
usedBy(IndexPath *path, RestrictInfo *rinfo)
{
	ListCell   *lc;

	foreach(lc, path->indexclauses)
		if (((IndexClause *) lfirst(lc))->rinfo == rinfo)
			return true;
	return false;
}

/*
 * path's index clauses and the extra ones, in the order of their index
 * columns (as the planner keeps them).
 */
static List *
mergeClauses(IndexPath *path, List *extra)
{
	List	   *all = NIL;
	ListCell   *lc;
	ListCell   *le = list_head(extra);

	foreach(lc, path->indexclauses)
	{
		IndexClause *ic = (IndexClause *) lfirst(lc);

		while (le != NULL && ((IndexClause *) lfirst(le))->indexcol < ic->indexcol)
		{
			all = lappend(all, lfirst(le));
			le = lnext(extra, le);
		}
		all = lappend(all, ic);
	}
	for (; le != NULL; le = lnext(extra, le))
		all = lappend(all, lfirst(le));
	return all;
}

static void
addFilterPaths(PlannerInfo *root, RelOptInfo *rel, IndexOptInfo *index)
{
	List	   *paths = list_copy(rel->pathlist);
	ListCell   *lp;

	foreach(lp, paths)
	{
		IndexPath  *path = (IndexPath *) lfirst(lp);
		List	   *extra = NIL;
		IndexPath  *np;

		if (!IsA(path, IndexPath) || path->indexinfo != index ||
			path->indexorderbys == NIL || path->path.param_info != NULL)
			continue;
		for (int col = 1; col < index->nkeycolumns; col++)
		{
			ListCell   *lc;

			foreach(lc, rel->baserestrictinfo)
			{
				RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);
				IndexClause *ic;
				Expr	   *boolop = NULL;

				if (rinfo->pseudoconstant || usedBy(path, rinfo))
					continue;
				if (!matchSaop(root, rinfo, index, col) &&
					(boolop = matchBool(rinfo, index, col)) == NULL)
					continue;
				ic = makeNode(IndexClause);
				ic->rinfo = rinfo;
				ic->indexquals = list_make1(boolop ? make_simple_restrictinfo(root, boolop) : rinfo);
				ic->lossy = false;
				ic->indexcol = col;
				ic->indexcols = NIL;
				extra = lappend(extra, ic);
			}
		}
		if (extra == NIL)
			continue;
		np = create_index_path(root, index, mergeClauses(path, extra),
							   path->indexorderbys, path->indexorderbycols,
							   path->path.pathkeys, path->indexscandir,
							   false, NULL, 1.0, false);
		add_path(rel, (Path *) np);
	}
}

static void
filterRelPathlist(PlannerInfo *root, RelOptInfo *rel, Index rti, RangeTblEntry *rte)
{
	ListCell   *lc;

	if (prev_rel_pathlist_hook)
		prev_rel_pathlist_hook(root, rel, rti, rte);

	if (rel->reloptkind != RELOPT_BASEREL && rel->reloptkind != RELOPT_OTHER_MEMBER_REL)
		return;
	if (rte->rtekind != RTE_RELATION || rel->baserestrictinfo == NIL)
		return;
	foreach(lc, rel->indexlist)
	{
		IndexOptInfo *index = (IndexOptInfo *) lfirst(lc);

		/* an hnsw index with filter columns (its cost function names it) */
		if (index->amcostestimate == hnswcostestimate && index->nkeycolumns > 1)
			addFilterPaths(root, rel, index);
	}
}

void
VecInstallFilterQuals(void)
{
	prev_rel_pathlist_hook = set_rel_pathlist_hook;
	set_rel_pathlist_hook = filterRelPathlist;
}

#else

void
VecInstallFilterQuals(void)
{
}

#endif
