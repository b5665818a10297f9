/*
 * vecindexcheck.c
 *	  vector_index_check(regclass): walk an hnsw or ivfflat index and report
 *	  structural problems, one text row each (no rows: the index is sound).
 *
 * The checks read the index the way scans do (share locks, one page at a
 * time), so they can run on a live index; a concurrent insert can make a
 * just-allocated node look unreachable for a moment, so run the check on a
 * quiet index when its result matters.  Each AM's walk is in its own
 * directory (hnswcheck.c, ivfcheck.c); this file is the SQL entry point.
 */
#include "compat.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

#include "vecindex.h"

/* most problems reported one by one; the rest are only counted */
#define VEC_CHECK_MAX_REPORTED	100

static void
putRow(VecCheck *c, const char *text)
{
	Datum		value = CStringGetTextDatum(text);
	bool		isnull = false;

	tuplestore_putvalues(c->store, c->desc, &value, &isnull);
}

void
VecCheckProblem(VecCheck *c, const char *fmt,...)
{
	char		buf[512];
	va_list		args;

	c->nproblems++;
	if (c->nproblems > VEC_CHECK_MAX_REPORTED)
		return;
	va_start(args, fmt);
	vsnprintf(buf, sizeof(buf), fmt, args);
	va_end(args);
	putRow(c, buf);
}

/* the AMs' walks, registered from _PG_init (VecRegisterCheck) */
#define VEC_MAX_CHECKS 4
static struct
{
	PGFunction	handler;
	VecCheckRoutine check;
}			checks[VEC_MAX_CHECKS];
static int	nchecks;

void
VecRegisterCheck(PGFunction handler, VecCheckRoutine check)
{
	if (nchecks >= VEC_MAX_CHECKS)
		elog(ERROR, "too many index checks registered");
	checks[nchecks].handler = handler;
	checks[nchecks].check = check;
	nchecks++;
}

/*
 * The walk of the AM whose handler built index, or NULL.  The handler is
 * matched by its C address, so the AM's name does not matter.
 */
static VecCheckRoutine
lookupCheck(Relation index)
{
	FmgrInfo	flinfo;

	if (!OidIsValid(index->rd_amhandler))
		return NULL;
	fmgr_info(index->rd_amhandler, &flinfo);
	for (int i = 0; i < nchecks; i++)
		if (checks[i].handler == flinfo.fn_addr)
			return checks[i].check;
	return NULL;
}

PG_FUNCTION_INFO_V1(vector_index_check);
Datum
vector_index_check(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext old;
	VecCheck	c;
	Oid			heapoid;
	Relation	heap;
	Relation	index;
	VecCheckRoutine check;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));

	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	memset(&c, 0, sizeof(c));
	c.desc = CreateTemplateTupleDesc(1);
	TupleDescInitEntry(c.desc, (AttrNumber) 1, "problem", TEXTOID, -1, 0);
	c.desc = BlessTupleDesc(c.desc);
	c.store = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(old);

	/* lock the table first, as index builds and VACUUM do */
	heapoid = IndexGetRelation(indexoid, true);
	if (!OidIsValid(heapoid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an index",
						get_rel_name(indexoid) ? get_rel_name(indexoid) : "(unknown)")));
	heap = table_open(heapoid, AccessShareLock);
	index = index_open(indexoid, AccessShareLock);
	if (pg_class_aclcheck(heapoid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", RelationGetRelationName(heap))));

	if (PG_NARGS() > 1)
	{
		c.search_ef = PG_GETARG_INT32(1);
		if (c.search_ef < 0 || c.search_ef > 1000)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("search_ef must be between 0 and 1000")));
	}
	check = lookupCheck(index);
	if (check == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an hnsw or ivfflat index", RelationGetRelationName(index))));
	c.heap_blocks = RelationGetNumberOfBlocks(heap);
	c.heap = heap;
	check(index, &c);
	/* straight into the result: VecCheckProblem would count it and drop it */
	if (c.nproblems > VEC_CHECK_MAX_REPORTED)
		putRow(&c, psprintf("%d more problems not shown", c.nproblems - VEC_CHECK_MAX_REPORTED));

	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = c.store;
	rsinfo->setDesc = c.desc;
	return (Datum) 0;
}
