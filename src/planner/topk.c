/*
 * topk.c
 *	  Top-k over partitions: give every partition its own ORDER BY ... LIMIT,
 *	  so that postgres_fdw ships it to the shard and the shards run at once.
 *
 * For SELECT ... FROM parted ORDER BY col <-> q LIMIT k, PostgreSQL plans
 *
 *		Limit -> Merge Append -> (a sorted scan per partition)
 *
 * A foreign partition's scan ships ORDER BY but no LIMIT to its server
 * (postgres_fdw pushes a LIMIT only when the foreign table is the whole
 * query), so each shard streams rows until the Merge Append stops reading;
 * and Merge Append cannot run its children asynchronously.  Each partition
 * only ever contributes its own k nearest rows, so before planning, this
 * hook rewrites the query into the hand-written form
 *
 *		SELECT <the query's columns> FROM (
 *			SELECT <columns>, col <-> q FROM ONLY part_1 WHERE ...
 *				ORDER BY 2 LIMIT k + offset
 *			UNION ALL ...
 *			UNION ALL SELECT ... FROM ONLY part_n ...) parted
 *		ORDER BY <the distance column> LIMIT k OFFSET offset
 *
 * and lets PostgreSQL plan it: each foreign partition's subquery is a
 * foreign table queried alone, which postgres_fdw answers with one remote
 * query carrying the ORDER BY and the LIMIT; a local partition gets a Limit
 * over its index scan; and the UNION ALL becomes an Append, which runs the
 * foreign scans asynchronously when their server or table has
 * async_capable 'true'.  The distance is a column of every subquery, so the
 * planner could also merge the sorted subqueries with a Merge Append; that
 * reads the shards one after another, so for this UNION ALL (marked by its
 * queryId) the set_rel_pathlist hook leaves only the Append, which the top-k
 * Sort above it then merges.  Nothing of a finished plan or of
 * postgres_fdw's remote SQL is edited.
 *
 * Rewritten is a SELECT (at any depth of a SELECT statement: subqueries,
 * CTEs, sublinks) that reads one partitioned table (not ONLY, no TABLESAMPLE,
 * no row-level security quals) and has one ORDER BY key, an expression with
 * one of this extension's distance operators and no volatile function; a
 * LIMIT that folds to a constant (OFFSET too, when present); at least one
 * foreign table among the leaf partitions; no aggregates, grouping, window
 * functions, DISTINCT, set-returning functions, sublinks, CTEs, locking
 * clauses, references to outer queries or whole-row references; and a WHERE
 * clause that does not mention a partition key column of the table or of a
 * sub-partitioned partition (PostgreSQL's own plan prunes partitions by it).
 * Anything else is planned as usual.  The hook runs in every backend that
 * has loaded the library; loading it at session start
 * (session_preload_libraries = 'vector') makes sure it is there before the
 * first query is planned.  vector.partition_topk = off turns it off.
 */
#include "compat.h"

#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/paths.h"
#include "optimizer/planner.h"
#include "parser/parsetree.h"
#include "partitioning/partdesc.h"
#include "rewrite/rewriteManip.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
#include "utils/rel.h"

#include "topk.h"
#include "typeops.h"

bool		vec_partition_topk = true;

#ifdef VEC_HAVE_PARTITION_TOPK

/*
 * The queryId of the UNION ALL this file builds ("vectopk1"): a plugin's
 * field, untouched by the planner and copied with the query, which lets the
 * set_rel_pathlist hook know the union when it becomes an append relation.
 */
#define TOPK_UNION_QUERYID UINT64CONST(0x766563746f706b31)

static planner_hook_type prev_planner_hook = NULL;
static set_rel_pathlist_hook_type prev_rel_pathlist_hook = NULL;

/* The columns the rewritten query reads from the per-partition subqueries. */
typedef struct TopKColumns
{
	Node	   *dist;			/* the ORDER BY expression */
	List	   *exprs;			/* per column, its expression over the parent */
	bool		wholerow;		/* a whole-row Var was seen */
} TopKColumns;

/* Is expr one of our distance operators? */
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

/*
 * Does node reference an outer query?  Such a query cannot be moved into
 * subqueries two levels further down without adjusting every reference.
 */
static bool
refersOutside(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
		return ((Var *) node)->varlevelsup != 0;
	if (IsA(node, PlaceHolderVar) || IsA(node, Aggref) || IsA(node, GroupingFunc) ||
		IsA(node, SubLink))
		return true;
	return expression_tree_walker(node, refersOutside, context);
}

/* Folds a LIMIT or OFFSET expression; false unless it is a constant >= 0. */
static bool
constCount(Node *node, ParamListInfo boundParams, int64 *value)
{
	PlannerGlobal glob;
	PlannerInfo root;
	Const	   *c;

	*value = 0;
	if (node == NULL)
		return true;
	/* a custom plan's bound parameters fold as constants, as in the planner */
	MemSet(&glob, 0, sizeof(glob));
	MemSet(&root, 0, sizeof(root));
	glob.type = T_PlannerGlobal;
	glob.boundParams = boundParams;
	root.type = T_PlannerInfo;
	root.glob = &glob;
	node = eval_const_expressions(&root, copyObject(node));
	if (!IsA(node, Const))
		return false;
	c = (Const *) node;
	if (c->consttype != INT8OID || c->constisnull)
		return false;
	*value = DatumGetInt64(c->constvalue);
	return *value >= 0;
}

/*
 * Replaces, in the outer query's target list, the distance expression and
 * every column of the partitioned table with a Var of the union's column
 * that carries it, adding the column on first sight.
 */
static Node *
toUnionColumns(Node *node, TopKColumns *cols)
{
	ListCell   *lc;
	int			col = 0;

	if (node == NULL)
		return NULL;
	if (IsA(node, Var) && ((Var *) node)->varattno == 0)
	{
		cols->wholerow = true;
		return node;
	}
	if (!IsA(node, Var) && !equal(node, cols->dist))
		return expression_tree_mutator(node, toUnionColumns, (void *) cols);

	foreach(lc, cols->exprs)
	{
		col++;
		if (equal(lfirst(lc), node))
			break;
	}
	if (lc == NULL)
	{
		/* the distance column is known by its pointer (leafQuery) */
		cols->exprs = lappend(cols->exprs, equal(node, cols->dist) ? cols->dist : node);
		col = list_length(cols->exprs);
	}
	return (Node *) makeVar(1, col, exprType(node), exprTypmod(node), exprCollation(node), 0);
}

/* The column names of a relation, "" for a dropped column, as the parser makes them. */
static List *
relationColumnNames(TupleDesc desc)
{
	List	   *names = NIL;
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		names = lappend(names, makeString(pstrdup(att->attisdropped ? "" : NameStr(att->attname))));
	}
	return names;
}

/* The names of the union's columns. */
static List *
unionColumnNames(TopKColumns *cols, Oid parent)
{
	List	   *names = NIL;
	ListCell   *lc;

	foreach(lc, cols->exprs)
	{
		Node	   *expr = lfirst(lc);
		char	   *name = NULL;

		if (IsA(expr, Var))
			name = get_attname(parent, ((Var *) expr)->varattno, true);
		names = lappend(names, makeString(name ? name : pstrdup("distance")));
	}
	return names;
}

/* Adds the names of rel's partition key columns to *names. */
static void
addKeyColumnNames(Relation rel, List **names)
{
	PartitionKey key = RelationGetPartitionKey(rel);
	Bitmapset  *attrs = NULL;
	int			i;

	for (i = 0; i < key->partnatts; i++)
		if (key->partattrs[i] != 0)
			attrs = bms_add_member(attrs, key->partattrs[i] - FirstLowInvalidHeapAttributeNumber);
	pull_varattnos((Node *) key->partexprs, 1, &attrs);
	i = -1;
	while ((i = bms_next_member(attrs, i)) >= 0)
	{
		AttrNumber	attno = i + FirstLowInvalidHeapAttributeNumber;

		if (attno > 0)
			*names = lappend(*names,
							 NameStr(TupleDescAttr(RelationGetDescr(rel), attno - 1)->attname));
	}
}

/* Is a column named in names among attrs (pull_varattnos numbering) of relid? */
static bool
mentionsColumn(Oid relid, List *names, Bitmapset *attrs)
{
	ListCell   *lc;

	foreach(lc, names)
	{
		AttrNumber	attno = get_attnum(relid, (char *) lfirst(lc));

		if (attno != InvalidAttrNumber &&
			bms_is_member(attno - FirstLowInvalidHeapAttributeNumber, attrs))
			return true;
	}
	return false;
}

/*
 * Adds rel's leaf partitions, locked and in bound order, to *leaves, and its
 * partition key columns and those of its sub-partitioned partitions to
 * *keys; counts the foreign tables among the leaves.  False when user may
 * not read a leaf that VecRteReadAs would check.
 */
static bool
addLeaves(Relation rel, Oid user, List **leaves, List **keys, int *nforeign)
{
	PartitionDesc desc = RelationGetPartitionDesc(rel, true);
	int			i;

	check_stack_depth();
	addKeyColumnNames(rel, keys);
	for (i = 0; i < desc->nparts; i++)
	{
		Oid			child = desc->oids[i];

		if (desc->is_leaf[i])
		{
			/* the planner takes this lock when it expands the partitions */
			LockRelationOid(child, AccessShareLock);
			if (VEC_RTE_READ_CHECKED &&
				pg_class_aclcheck(child, OidIsValid(user) ? user : GetUserId(),
								  ACL_SELECT) != ACLCHECK_OK)
				return false;
			*leaves = lappend_oid(*leaves, child);
			if (get_rel_relkind(child) == RELKIND_FOREIGN_TABLE)
				(*nforeign)++;
		}
		else
		{
			Relation	sub = table_open(child, AccessShareLock);
			bool		ok = addLeaves(sub, user, leaves, keys, nforeign);

			table_close(sub, NoLock);
			if (!ok)
				return false;
		}
	}
	return true;
}

/*
 * The subquery of one leaf partition:
 *		SELECT <columns>, <distance> FROM ONLY leaf WHERE <quals>
 *		ORDER BY <distance> LIMIT limit
 * with the parent's column numbers mapped to the leaf's.  The leaf's scan
 * runs as the parent's would (checkAsUser); the parent's permissions are
 * checked for the whole query, and the leaf's are not (before 16; see
 * VecRteReadAs).
 */
static Query *
leafQuery(Oid leaf, TupleDesc parentDesc, TopKColumns *cols, Node *quals,
		  SortGroupClause *sort, int64 limit, Oid checkAsUser)
{
	Relation	rel = table_open(leaf, NoLock);
	TupleDesc	desc = RelationGetDescr(rel);
	AttrMap    *map = make_attrmap(parentDesc->natts);
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	RangeTblRef *rtr = makeNode(RangeTblRef);
	Query	   *q = makeNode(Query);
	SortGroupClause *leafSort = copyObject(sort);
	bool		wholerow = false;
	ListCell   *lc;
	int			i,
				j;

	/* partitions match the parent's columns by name */
	for (i = 0; i < parentDesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(parentDesc, i);

		if (att->attisdropped)
			continue;
		for (j = 0; j < desc->natts; j++)
			if (!TupleDescAttr(desc, j)->attisdropped &&
				strcmp(NameStr(TupleDescAttr(desc, j)->attname), NameStr(att->attname)) == 0)
				map->attnums[i] = j + 1;
	}

	rte->rtekind = RTE_RELATION;
	rte->relid = leaf;
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = AccessShareLock;
	rte->inh = false;
	rte->inFromCl = true;
	rte->eref = makeAlias(RelationGetRelationName(rel), relationColumnNames(desc));
	VecRteReadAs(q, rte, checkAsUser);
	rtr->rtindex = 1;

	q->commandType = CMD_SELECT;
	q->querySource = QSRC_ORIGINAL;
	q->canSetTag = true;
	q->rtable = list_make1(rte);
	q->jointree = makeFromExpr(list_make1(rtr),
							   map_variable_attnos(copyObject(quals), 1, 0, map, InvalidOid,
												   &wholerow));
	i = 0;
	foreach(lc, cols->exprs)
	{
		Node	   *expr = lfirst(lc);
		TargetEntry *tle;

		i++;
		tle = makeTargetEntry((Expr *) map_variable_attnos(copyObject(expr), 1, 0, map,
														   InvalidOid, &wholerow),
							  i, NULL, false);
		if (expr == cols->dist)
		{
			tle->resname = pstrdup("distance");
			tle->ressortgroupref = leafSort->tleSortGroupRef = 1;
		}
		else
			tle->resname = get_attname(leaf, ((Var *) tle->expr)->varattno, true);
		if (tle->resname == NULL)
			tle->resname = pstrdup("?column?");
		q->targetList = lappend(q->targetList, tle);
	}
	q->sortClause = list_make1(leafSort);
	q->limitCount = (Node *) makeConst(INT8OID, -1, InvalidOid, sizeof(int64),
									   Int64GetDatum(limit), false, FLOAT8PASSBYVAL);
	q->limitOption = LIMIT_OPTION_COUNT;

	Assert(!wholerow);
	table_close(rel, NoLock);
	return q;
}

/* The UNION ALL of the leaf queries, as the parser makes one. */
static Query *
unionQuery(List *leafQueries, List *colnames, TopKColumns *cols)
{
	Query	   *u = makeNode(Query);
	List	   *types = NIL,
			   *typmods = NIL,
			   *collations = NIL;
	Node	   *tree = NULL;
	ListCell   *lc;
	int			rti = 0;

	foreach(lc, cols->exprs)
	{
		Node	   *expr = lfirst(lc);

		types = lappend_oid(types, exprType(expr));
		typmods = lappend_int(typmods, exprTypmod(expr));
		collations = lappend_oid(collations, exprCollation(expr));
		u->targetList = lappend(u->targetList,
								makeTargetEntry((Expr *) makeVar(1, list_length(u->targetList) + 1,
																 exprType(expr),
																 exprTypmod(expr),
																 exprCollation(expr), 0),
												list_length(u->targetList) + 1,
												strVal(list_nth(colnames,
																list_length(u->targetList))),
												false));
	}

	foreach(lc, leafQueries)
	{
		Query	   *leaf = lfirst(lc);
		RangeTblEntry *rte = makeNode(RangeTblEntry);
		RangeTblRef *rtr = makeNode(RangeTblRef);
		List	   *names = NIL;
		ListCell   *tl;

		foreach(tl, leaf->targetList)
			names = lappend(names, makeString(pstrdup(lfirst_node(TargetEntry, tl)->resname)));
		rte->rtekind = RTE_SUBQUERY;
		rte->subquery = leaf;
		rte->eref = makeAlias(get_rel_name(linitial_node(RangeTblEntry, leaf->rtable)->relid),
							  names);
		u->rtable = lappend(u->rtable, rte);
		rtr->rtindex = ++rti;

		if (tree == NULL)
			tree = (Node *) rtr;
		else
		{
			SetOperationStmt *op = makeNode(SetOperationStmt);

			op->op = SETOP_UNION;
			op->all = true;
			op->larg = tree;
			op->rarg = (Node *) rtr;
			op->colTypes = types;
			op->colTypmods = typmods;
			op->colCollations = collations;
			tree = (Node *) op;
		}
	}

	u->commandType = CMD_SELECT;
	u->querySource = QSRC_ORIGINAL;
	u->canSetTag = true;
	u->queryId = TOPK_UNION_QUERYID;
	u->jointree = makeFromExpr(NIL, NULL);
	u->setOperations = tree;
	return u;
}

/*
 * Rewrites q in place when it has the shape described at the top; returns
 * whether it did.
 */
static bool
rewriteTopK(Query *q, ParamListInfo boundParams)
{
	RangeTblEntry *rte;
	RangeTblRef *rtr;
	SortGroupClause *sort;
	TargetEntry *sortTle;
	Relation	parent;
	TopKColumns cols;
	List	   *leaves = NIL,
			   *keys = NIL,
			   *leafQueries = NIL,
			   *colnames,
			   *tlist;
	Bitmapset  *qualAttrs = NULL;
	Query	   *sub;
	RangeTblEntry *subRte;
	int64		count,
				offset,
				k;
	int			nforeign = 0;
	ListCell   *lc;

	/* the query's shape */
	if (q->commandType != CMD_SELECT || q->utilityStmt != NULL || q->setOperations != NULL ||
		q->hasAggs || q->hasWindowFuncs || q->hasTargetSRFs || q->hasSubLinks ||
		q->hasDistinctOn || q->hasRecursive || q->hasModifyingCTE || q->hasForUpdate ||
		q->cteList != NIL || q->groupClause != NIL || q->groupingSets != NIL ||
		q->havingQual != NULL || q->windowClause != NIL || q->distinctClause != NIL ||
		q->rowMarks != NIL || list_length(q->sortClause) != 1 ||
		q->limitOption != LIMIT_OPTION_COUNT || q->limitCount == NULL ||
		list_length(q->rtable) != 1 || list_length(q->jointree->fromlist) != 1 ||
		!IsA(linitial(q->jointree->fromlist), RangeTblRef))
		return false;
	rtr = linitial_node(RangeTblRef, q->jointree->fromlist);
	rte = rt_fetch(rtr->rtindex, q->rtable);
	if (rtr->rtindex != 1 || rte->rtekind != RTE_RELATION ||
		rte->relkind != RELKIND_PARTITIONED_TABLE || !rte->inh || rte->tablesample != NULL ||
		rte->securityQuals != NIL)
		return false;

	/* LIMIT count [OFFSET offset]: every partition gives its first k rows */
	if (!constCount(q->limitCount, boundParams, &count) ||
		!constCount(q->limitOffset, boundParams, &offset) ||
		pg_add_s64_overflow(count, offset, &k) || count == 0)
		return false;

	/* ORDER BY one distance */
	sort = linitial_node(SortGroupClause, q->sortClause);
	sortTle = get_sortgroupclause_tle(sort, q->targetList);
	if (!isDistanceExpr((Node *) sortTle->expr) ||
		contain_volatile_functions((Node *) sortTle->expr) ||
		refersOutside((Node *) q->targetList, NULL) ||
		refersOutside(q->jointree->quals, NULL))
		return false;

	/* the columns the outer query reads */
	MemSet(&cols, 0, sizeof(cols));
	cols.dist = (Node *) sortTle->expr;
	tlist = (List *) toUnionColumns((Node *) copyObject(q->targetList), &cols);
	if (cols.wholerow || !list_member_ptr(cols.exprs, cols.dist))
		return false;
	pull_varattnos(q->jointree->quals, 1, &qualAttrs);
	if (bms_is_member(InvalidAttrNumber - FirstLowInvalidHeapAttributeNumber, qualAttrs))
		return false;

	/* the leaf partitions; at least one foreign; no pruning by the WHERE clause lost */
	parent = table_open(rte->relid, NoLock);
	if (!addLeaves(parent, VecRteCheckAsUser(q, rte), &leaves, &keys, &nforeign) ||
		nforeign == 0 || mentionsColumn(rte->relid, keys, qualAttrs))
	{
		table_close(parent, NoLock);
		return false;
	}

	foreach(lc, leaves)
		leafQueries = lappend(leafQueries,
							  leafQuery(lfirst_oid(lc), RelationGetDescr(parent), &cols,
										q->jointree->quals, sort, k,
										VecRteCheckAsUser(q, rte)));
	colnames = unionColumnNames(&cols, rte->relid);
	/* one leaf needs no union; its subquery is then planned as it is */
	sub = list_length(leafQueries) == 1 ? linitial(leafQueries) :
		unionQuery(leafQueries, colnames, &cols);

	subRte = makeNode(RangeTblEntry);
	subRte->rtekind = RTE_SUBQUERY;
	subRte->subquery = sub;
	subRte->eref = makeAlias(RelationGetRelationName(parent), colnames);
	subRte->inFromCl = true;
	table_close(parent, NoLock);

	/*
	 * The outer query reads the union in place of the table, whose entry
	 * stays in the range table, out of the join tree, for the executor's
	 * permission check and lock.
	 */
	rte->inh = false;
	q->rtable = list_make2(subRte, rte);
	rtr->rtindex = 1;
	q->jointree->quals = NULL;
	/* its ORDER BY entry now reads the distance column */
	q->targetList = tlist;
	return true;
}

/* Rewrites every query of the tree, inner queries first. */
static bool
rewriteQueries(Node *node, void *boundParams)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *q = (Query *) node;

		query_tree_walker(q, rewriteQueries, boundParams, 0);
		rewriteTopK(q, (ParamListInfo) boundParams);
		return false;
	}
	return expression_tree_walker(node, rewriteQueries, boundParams);
}

static PlannedStmt *
topkPlanner(Query *parse, const char *query_string, int cursorOptions, ParamListInfo boundParams)
{
	if (vec_partition_topk && parse->commandType == CMD_SELECT && parse->utilityStmt == NULL)
		rewriteQueries((Node *) parse, (void *) boundParams);

	if (prev_planner_hook)
		return prev_planner_hook(parse, query_string, cursorOptions, boundParams);
	return standard_planner(parse, query_string, cursorOptions, boundParams);
}

/*
 * For our UNION ALL, now an append relation, drop the Merge Append paths:
 * the Append runs the foreign scans at once, and the Sort above it orders
 * the few rows they return.
 */
static void
topkRelPathlist(PlannerInfo *root, RelOptInfo *rel, Index rti, RangeTblEntry *rte)
{
	if (prev_rel_pathlist_hook)
		prev_rel_pathlist_hook(root, rel, rti, rte);

	if (rte->rtekind == RTE_SUBQUERY && rte->inh && rte->subquery != NULL &&
		rte->subquery->queryId == TOPK_UNION_QUERYID)
	{
		List	   *kept = NIL;
		ListCell   *lc;

		foreach(lc, rel->pathlist)
			if (!IsA(lfirst(lc), MergeAppendPath))
				kept = lappend(kept, lfirst(lc));
		if (kept != NIL)
			rel->pathlist = kept;
	}
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
	prev_rel_pathlist_hook = set_rel_pathlist_hook;
	set_rel_pathlist_hook = topkRelPathlist;
}

#else

void
VecInstallTopK(void)
{
	/* no asynchronous Append before PostgreSQL 14: nothing to do */
}

#endif
