/*
 * topk.c
 *	  Top-k over partitions: give every partition its own LIMIT, and let
 *	  foreign partitions run at once.
 *
 * For SELECT ... FROM parted ORDER BY col <-> q LIMIT k, PostgreSQL plans
 *
 *		Limit -> Merge Append -> (a sorted scan per partition)
 *
 * A foreign partition's scan ships ORDER BY but no LIMIT to its server
 * (postgres_fdw pushes a LIMIT only when the foreign table is the whole
 * query), so each shard streams rows until the Merge Append stops reading;
 * and Merge Append cannot run its children asynchronously.  Each partition
 * only ever contributes its own k nearest rows, so this planner hook
 * rewrites the finished plan into
 *
 *		Limit -> Sort (top-k) -> Append -> (each partition's scan, LIMIT k)
 *
 * where a postgres_fdw scan gets "LIMIT k" appended to the query it sends
 * (its ORDER BY is already there), and is marked asynchronous when its
 * server or table has async_capable 'true'; any other child gets a Limit
 * node on top.  A plan whose partitions are all local is left alone.  This is the plan of the hand-written
 * UNION ALL of (... ORDER BY ... LIMIT k) subqueries, so the rows are the
 * same.
 *
 * Only this exact shape is touched: a Limit whose count (and offset) are
 * constants, directly above a Merge Append without run-time pruning, sorted
 * by one key that is one of this extension's distance operators.  The
 * hook runs in every backend that has loaded the library; loading it at
 * session start (session_preload_libraries = 'vector') makes sure it is
 * there before the first query is planned.  vector.partition_topk = off
 * turns it off.
 */
#include "compat.h"

#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/plannodes.h"
#include "miscadmin.h"
#include "optimizer/planner.h"
#include "parser/parsetree.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "topk.h"
#include "typeops.h"

bool		vec_partition_topk = true;

#ifdef VEC_HAVE_PARTITION_TOPK

static planner_hook_type prev_planner_hook = NULL;

/* Is the sort key one of our distance operators? */
static bool
isDistanceExpr(Node *expr)
{
	OpExpr	   *op;
	FmgrInfo	finfo;

	if (expr == NULL || !IsA(expr, OpExpr))
		return false;
	op = (OpExpr *) expr;
	if (op->opresulttype != FLOAT8OID || list_length(op->args) != 2)
		return false;
	fmgr_info(op->opfuncid, &finfo);
	return VecIsDistanceFunction(finfo.fn_addr);
}

/* The expression the child computes for output column resno. */
static Node *
childColumn(Plan *child, AttrNumber resno)
{
	TargetEntry *tle;

	if (resno < 1 || resno > list_length(child->targetlist))
		return NULL;
	tle = list_nth_node(TargetEntry, child->targetlist, resno - 1);
	return (Node *) tle->expr;
}

/* A target list of Vars passing each of child's columns through. */
static List *
passThroughTlist(Plan *child)
{
	List	   *tlist = NIL;
	ListCell   *lc;

	foreach(lc, child->targetlist)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		Var		   *var = makeVar(OUTER_VAR, tle->resno, exprType((Node *) tle->expr),
								  exprTypmod((Node *) tle->expr),
								  exprCollation((Node *) tle->expr), 0);

		tlist = lappend(tlist, makeTargetEntry((Expr *) var, tle->resno, tle->resname,
											   tle->resjunk));
	}
	return tlist;
}

/* postgres_fdw's query text, when child is a postgres_fdw scan; else NULL. */
static char *
remoteSql(Plan *child)
{
	ForeignScan *fs;
	ForeignServer *server;
	ForeignDataWrapper *fdw;
	Node	   *first;

	if (!IsA(child, ForeignScan))
		return NULL;
	fs = (ForeignScan *) child;
	if (fs->operation != CMD_SELECT || !OidIsValid(fs->fs_server) || fs->fdw_private == NIL)
		return NULL;
	server = GetForeignServer(fs->fs_server);
	fdw = GetForeignDataWrapper(server->fdwid);
	if (strcmp(fdw->fdwname, "postgres_fdw") != 0)
		return NULL;
	first = linitial(fs->fdw_private);
	if (first == NULL || !IsA(first, String))
		return NULL;
	return strVal(first);
}

/* async_capable 'true' on the scan's server or on its foreign table. */
static bool
asyncCapable(ForeignScan *fs, List *rtable)
{
	bool		result = false;
	ListCell   *lc;
	int			rti = fs->scan.scanrelid;

	foreach(lc, GetForeignServer(fs->fs_server)->options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "async_capable") == 0)
			result = defGetBoolean(def);
	}
	if (rti > 0 && rti <= list_length(rtable))
	{
		RangeTblEntry *rte = rt_fetch(rti, rtable);

		if (rte->rtekind == RTE_RELATION)
			foreach(lc, GetForeignTable(rte->relid)->options)
			{
				DefElem    *def = lfirst_node(DefElem, lc);

				if (strcmp(def->defname, "async_capable") == 0)
					result = defGetBoolean(def);
			}
	}
	return result;
}

/* LIMIT k as a constant int8 node */
static Node *
limitConst(int64 k)
{
	return (Node *) makeConst(INT8OID, -1, InvalidOid, sizeof(int64), Int64GetDatum(k),
							  false, FLOAT8PASSBYVAL);
}

static bool
constInt8(Node *node, int64 *value)
{
	Const	   *c;

	if (node == NULL)
	{
		*value = 0;
		return true;
	}
	if (!IsA(node, Const))
		return false;
	c = (Const *) node;
	if (c->consttype != INT8OID || c->constisnull)
		return false;
	*value = DatumGetInt64(c->constvalue);
	return *value >= 0;
}

/*
 * Rewrite limit's Merge Append child, when it has the shape described at
 * the top; returns whether it did.
 */
static bool
rewriteTopK(Limit *limit, List *rtable)
{
	MergeAppend *ma;
	Append	   *app;
	Sort	   *sort;
	int64		count,
				offset;
	int64		k;
	List	   *children = NIL;
	int			nasync = 0;
	ListCell   *lc;

	if (!IsA(outerPlan(limit), MergeAppend) || limit->limitOption != LIMIT_OPTION_COUNT)
		return false;
	if (!constInt8(limit->limitCount, &count) || limit->limitCount == NULL ||
		!constInt8(limit->limitOffset, &offset))
		return false;
	k = count + offset;
	if (k <= 0 || k < count)
		return false;
	ma = (MergeAppend *) outerPlan(limit);
	if (ma->numCols != 1 || VecPlanHasPartPrune(ma) || list_length(ma->mergeplans) < 2)
		return false;

	/*
	 * Every child must sort by one of our distances, and one at least must
	 * be a foreign scan (local partitions alone are served well by the
	 * Merge Append, which reads each index scan lazily).
	 */
	{
		bool		remote = false;

		foreach(lc, ma->mergeplans)
		{
			Plan	   *child = (Plan *) lfirst(lc);

			if (!isDistanceExpr(childColumn(child, ma->sortColIdx[0])))
				return false;
			remote |= remoteSql(child) != NULL;
		}
		if (!remote)
			return false;
	}

	foreach(lc, ma->mergeplans)
	{
		Plan	   *child = (Plan *) lfirst(lc);
		char	   *sql = remoteSql(child);

		if (sql != NULL && strstr(sql, " ORDER BY ") != NULL && strstr(sql, " LIMIT ") == NULL &&
			strstr(sql, " FOR UPDATE") == NULL && strstr(sql, " FOR SHARE") == NULL &&
			strstr(sql, " FOR NO KEY") == NULL && strstr(sql, " FOR KEY") == NULL)
		{
			ForeignScan *fs = (ForeignScan *) child;

			/* the server sorts; make it stop after k rows */
			linitial(fs->fdw_private) = makeString(psprintf("%s LIMIT " INT64_FORMAT, sql, k));
			child->plan_rows = Min(child->plan_rows, (double) k);
			if (asyncCapable(fs, rtable))
			{
				child->async_capable = true;
				nasync++;
			}
			children = lappend(children, child);
		}
		else
		{
			Limit	   *cl = makeNode(Limit);

			cl->plan.targetlist = passThroughTlist(child);
			cl->plan.startup_cost = child->startup_cost;
			cl->plan.total_cost = child->total_cost;
			cl->plan.plan_rows = Min(child->plan_rows, (double) k);
			cl->plan.plan_width = child->plan_width;
			cl->plan.lefttree = child;
			cl->limitCount = limitConst(k);
			cl->limitOption = LIMIT_OPTION_COUNT;
			children = lappend(children, cl);
		}
	}

	/* async children first: Append starts them before the others */
	{
		List	   *async = NIL,
				   *sync = NIL;

		foreach(lc, children)
		{
			Plan	   *child = (Plan *) lfirst(lc);

			if (child->async_capable)
				async = lappend(async, child);
			else
				sync = lappend(sync, child);
		}
		children = list_concat(async, sync);
	}

	app = makeNode(Append);
	app->plan = ma->plan;
	app->plan.type = T_Append;
	app->plan.targetlist = copyObject(ma->plan.targetlist);
	app->plan.lefttree = app->plan.righttree = NULL;
	app->plan.plan_rows = Min(ma->plan.plan_rows, (double) k * list_length(children));
	app->apprelids = ma->apprelids;
	app->appendplans = children;
	app->nasyncplans = nasync;
	app->first_partial_plan = list_length(children);
	VecPlanClearPartPrune(app);

	sort = makeNode(Sort);
	sort->plan = ma->plan;
	sort->plan.type = T_Sort;
	sort->plan.targetlist = copyObject(ma->plan.targetlist);
	sort->plan.async_capable = false;
	sort->plan.lefttree = (Plan *) app;
	sort->plan.righttree = NULL;
	sort->numCols = ma->numCols;
	sort->sortColIdx = ma->sortColIdx;
	sort->sortOperators = ma->sortOperators;
	sort->collations = ma->collations;
	sort->nullsFirst = ma->nullsFirst;

	outerPlan(limit) = (Plan *) sort;
	return true;
}

/* Look for the shape anywhere in a plan tree. */
static void
walkPlan(Plan *plan, List *rtable)
{
	ListCell   *lc;

	if (plan == NULL)
		return;
	check_stack_depth();
	if (IsA(plan, Limit))
		rewriteTopK((Limit *) plan, rtable);
	walkPlan(plan->lefttree, rtable);
	walkPlan(plan->righttree, rtable);
	if (IsA(plan, Append))
		foreach(lc, ((Append *) plan)->appendplans)
			walkPlan((Plan *) lfirst(lc), rtable);
	else if (IsA(plan, MergeAppend))
		foreach(lc, ((MergeAppend *) plan)->mergeplans)
			walkPlan((Plan *) lfirst(lc), rtable);
	else if (IsA(plan, SubqueryScan))
		walkPlan(((SubqueryScan *) plan)->subplan, rtable);
}

static PlannedStmt *
topkPlanner(Query *parse, const char *query_string, int cursorOptions, ParamListInfo boundParams)
{
	PlannedStmt *stmt;

	if (prev_planner_hook)
		stmt = prev_planner_hook(parse, query_string, cursorOptions, boundParams);
	else
		stmt = standard_planner(parse, query_string, cursorOptions, boundParams);

	if (vec_partition_topk && stmt->commandType == CMD_SELECT)
	{
		ListCell   *lc;

		walkPlan(stmt->planTree, stmt->rtable);
		foreach(lc, stmt->subplans)
			walkPlan((Plan *) lfirst(lc), stmt->rtable);
	}
	return stmt;
}

void
VecInstallTopK(void)
{
	DefineCustomBoolVariable("vector.partition_topk",
							 "Gives each partition of an ORDER BY distance LIMIT k query its own LIMIT.",
							 "Foreign partitions get the LIMIT in their remote query and run asynchronously.",
							 &vec_partition_topk, true, PGC_USERSET, 0, NULL, NULL, NULL);
	prev_planner_hook = planner_hook;
	planner_hook = topkPlanner;
}

#else

void
VecInstallTopK(void)
{
	/* no asynchronous Append before PostgreSQL 14: nothing to do */
}

#endif
