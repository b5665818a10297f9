/*
 * vecindex.c
 *	  Helpers shared by the hnsw and ivfflat access methods.
 */
#include "compat.h"

#include "access/amvalidate.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_type.h"
#include "access/relscan.h"
#include "commands/vacuum.h"
#include "optimizer/cost.h"
#include "utils/selfuncs.h"
#include "utils/spccache.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "vecbase.h"
#include "vecindex.h"

const VecTypeOps *
VecIndexTypeOps(Relation index, VecMetric *metric)
{
	FmgrInfo   *distproc = index_getprocinfo(index, 1, VEC_DISTANCE_PROC);
	FmgrInfo   *support = index_getprocinfo(index, 1, VEC_TYPE_SUPPORT_PROC);
	const VecTypeOps *ops;

	ops = (const VecTypeOps *) DatumGetPointer(FunctionCall1(support, PointerGetDatum(NULL)));
	*metric = VecOpsMetric(ops, distproc->fn_addr);
	return ops;
}

int
VecIndexCheckDims(Relation index, const VecTypeOps *ops, const char *amname, int maxdim)
{
	int32		typmod = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;

	/*
	 * The bit opclasses accept varbit (binary-coercible to bit), whose values
	 * need not share one length even under a typmod.
	 */
	if (TupleDescAttr(RelationGetDescr(index), 0)->atttypid == VARBITOID)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("type not supported for %s index", amname)));
	if (typmod < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column does not have dimensions"),
				 errhint("Give the column a type with dimensions, such as %s(3).", ops->name)));
	if (typmod > maxdim)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("column cannot have more than %d dimensions for %s index",
						maxdim, amname),
				 errhint("Index a lower-dimensional expression, such as a halfvec cast, binary_quantize() or subvector().")));
	return typmod;
}

bool
VecIndexValueToItem(const VecTypeOps *ops, VecMetric metric, int dim, Datum value, void *dst)
{
	value = PointerGetDatum(PG_DETOAST_DATUM(value));
	VecIndexCheckValueDims(ops, value, dim);
	/* a variable-length item must fit the room the index has for one */
	if (ops->check_value)
		ops->check_value(value);
	return ops->to_item(value, metric, dst);
}

void
VecIndexCheckValueDims(const VecTypeOps *ops, Datum value, int dim)
{
	int			got = ops->datum_dim(value);

	if (got != dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", dim, got)));
}

/*
 * The properties both access methods share: ordering by an operator, one
 * key column, no uniqueness, no bitmap or parallel scans, builds that use
 * maintenance_work_mem, parallel bulk-delete in VACUUM.  The caller sets
 * the callbacks.
 */
IndexAmRoutine *
VecIndexAmRoutine(void)
{
	IndexAmRoutine *am = makeNode(IndexAmRoutine);

	am->amstrategies = 0;
	am->amsupport = 3;
	am->amoptsprocnum = 0;
	am->amcanorder = false;
	am->amcanorderbyop = true;
	am->amcanbackward = false;
	am->amcanunique = false;
	am->amcanmulticol = false;
	am->amoptionalkey = true;
	am->amsearcharray = false;
	am->amsearchnulls = false;
	am->amstorage = false;
	am->amclusterable = false;
	am->ampredlocks = false;
	am->amcanparallel = false;
	am->amcaninclude = false;
	am->amusemaintenanceworkmem = true;
	VecAmRoutineVersionFields(am);
	am->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
	am->amkeytype = InvalidOid;
	return am;
}

/*
 * The start both cost estimates share.  A path without ORDER BY is priced
 * out at an infinite cost: returns false with every output set.  Both AMs
 * can only produce rows in distance order, from a search that returns the
 * nearest ones and stops, so a scan without ORDER BY (SELECT count(*)
 * WHERE <the partial index's predicate>) would return a few rows or none.
 * disable_cost is not enough: with enable_seqscan off, a sequential scan
 * costs as much, and an index-only scan of a partial index beat it (18
 * counts disabled nodes first: see VecIndexPathPriceOut).
 * Else fills the index pages
 * genericcostestimate counts, the table's rows (at least 1) and the
 * tablespace's random page cost, and returns true.
 */
bool
VecCostStart(PlannerInfo *root, IndexPath *path, double loop_count,
			 Cost *indexStartupCost, Cost *indexTotalCost,
			 Selectivity *indexSelectivity, double *indexCorrelation,
			 double *indexPages, double *ntuples, double *random_page_cost)
{
	GenericCosts costs;

	*indexSelectivity = 1;
	*indexCorrelation = 0;
	if (path->indexorderbys == NIL)
	{
		*indexStartupCost = get_float8_infinity();
		*indexTotalCost = get_float8_infinity();
		*indexSelectivity = 0;
		*indexPages = 0;
		VecIndexPathPriceOut(path);
		return false;
	}
	MemSet(&costs, 0, sizeof(costs));
	genericcostestimate(root, path, loop_count, &costs);
	/* the index conditions' (hnsw's filter columns; 1 without) */
	*indexSelectivity = costs.indexSelectivity;
	*indexPages = costs.numIndexPages;
	*ntuples = Max(path->indexinfo->tuples, 1);
	get_tablespace_page_costs(path->indexinfo->reltablespace, random_page_cost, NULL);
	return true;
}

/* ambeginscan's part both AMs share: the order-by value arrays. */
void
VecScanInitOrderBy(IndexScanDesc scan, int norderbys)
{
	/* the AM provides the order-by value arrays (as GiST does) */
	if (norderbys > 0)
	{
		scan->xs_orderbyvals = palloc0_array(Datum, norderbys);
		scan->xs_orderbynulls = palloc_array(bool, norderbys);
		memset(scan->xs_orderbynulls, true, sizeof(bool) * norderbys);
	}
}

/*
 * A scan without an ORDER BY distance: the planner never chooses one (see
 * VecCostStart), but should one run, an error is the only right answer.
 * Returning the rows the search finds would silently drop the others.
 */
void
VecScanCheckOrderBy(IndexScanDesc scan, const char *amname)
{
	if (scan->numberOfOrderBys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot scan %s index without order", amname),
				 errhint("Use the index with ORDER BY column <operator> value.")));
}

/* amrescan's part both AMs share: take the new keys. */
void
VecScanSetKeys(IndexScanDesc scan, ScanKey keys, ScanKey orderbys)
{
	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys, scan->numberOfOrderBys * sizeof(ScanKeyData));
}

void
VecIndexNotValid(Relation index, const char *amname, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("index \"%s\" is not a valid %s index", RelationGetRelationName(index), amname),
			 detail ? errdetail_internal("%s", detail) : 0,
			 errhint("REINDEX the index.")));
}

Datum
VecScanQueryValue(const VecTypeOps *ops, int dim, Datum arg)
{
	Datum		value = PointerGetDatum(PG_DETOAST_DATUM(arg));

	/* the message the type's distance function would give */
	if (ops->datum_dim(value) != dim && strcmp(ops->name, "bit") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different bit lengths %u and %u", dim, ops->datum_dim(value))));
	VecCheckSameDim(dim, ops->datum_dim(value), ops->name);
	return value;
}

void
VecScanQueryItem(const VecTypeOps *ops, VecMetric metric, Datum value, void *dst)
{
	if (!ops->to_item(value, metric, dst))
		ops->to_item(value, VEC_METRIC_L2, dst);
}

Buffer
VecIndexNewBuffer(Relation index, ForkNumber fork)
{
	Buffer		buf;

	/* the extension lock serialises extenders; readers never need it */
	LockRelationForExtension(index, ExclusiveLock);
	buf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, NULL);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	UnlockRelationForExtension(index, ExclusiveLock);
	return buf;
}

/*
 * A filter opclass (hnsw's, for the columns after the vector: filters
 * true) has no support function and only search operators returning bool:
 * strategy 1 (=), or on arrays 3 (&&) and 7 (@>).
 */
static bool
validateFilterFamily(Oid opfamilyoid, const char *amname, const char *opclassname)
{
	bool		result = true;
	CatCList   *oprlist = SearchSysCacheList1(AMOPSTRATEGY, ObjectIdGetDatum(opfamilyoid));

	for (int i = 0; i < oprlist->n_members; i++)
	{
		Form_pg_amop op = (Form_pg_amop) GETSTRUCT(&oprlist->members[i]->tuple);

		if ((op->amopstrategy != 1 && op->amopstrategy != 3 && op->amopstrategy != 7) ||
			op->amoppurpose != AMOP_SEARCH ||
			!check_amop_signature(op->amopopr, BOOLOID, op->amoplefttype, op->amoprighttype))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("%s operator class \"%s\" contains operator %s that is not a boolean search operator with strategy 1, 3 or 7",
							amname, opclassname, format_operator(op->amopopr))));
			result = false;
		}
	}
	ReleaseCatCacheList(oprlist);
	return result;
}

/*
 * An opclass of either AM has exactly one operator, strategy 1, an ordering
 * operator returning float8, and support functions 1 (the distance,
 * returning float8) and 3 (the type support, internal -> internal); or
 * with filters, it may be a filter opclass (validateFilterFamily).
 */
bool
VecIndexValidate(Oid opclassoid, const char *amname, bool filters)
{
	bool		result = true;
	HeapTuple	classtup;
	Form_pg_opclass classform;
	Oid			opfamilyoid;
	char	   *opclassname;
	CatCList   *proclist;
	CatCList   *oprlist;
	bool		have_dist = false;
	bool		have_support = false;

	classtup = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclassoid));
	if (!HeapTupleIsValid(classtup))
		elog(ERROR, "cache lookup failed for operator class %u", opclassoid);
	classform = (Form_pg_opclass) GETSTRUCT(classtup);
	opfamilyoid = classform->opcfamily;
	opclassname = NameStr(classform->opcname);

	proclist = SearchSysCacheList1(AMPROCNUM, ObjectIdGetDatum(opfamilyoid));
	if (filters && proclist->n_members == 0)
	{
		ReleaseCatCacheList(proclist);
		result = validateFilterFamily(opfamilyoid, amname, opclassname);
		ReleaseSysCache(classtup);
		return result;
	}
	for (int i = 0; i < proclist->n_members; i++)
	{
		Form_pg_amproc proc = (Form_pg_amproc) GETSTRUCT(&proclist->members[i]->tuple);
		bool		ok;

		switch (proc->amprocnum)
		{
			case VEC_DISTANCE_PROC:
				ok = check_amproc_signature(proc->amproc, FLOAT8OID, true, 2, 2,
											proc->amproclefttype, proc->amproclefttype);
				have_dist |= ok;
				break;
			case VEC_TYPE_SUPPORT_PROC:
				ok = check_amproc_signature(proc->amproc, INTERNALOID, true, 1, 1, INTERNALOID);
				have_support |= ok;
				break;
			default:
				ereport(INFO,
						(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
						 errmsg("%s operator class \"%s\" contains function %s with invalid support number %d",
								amname, opclassname, format_procedure(proc->amproc), proc->amprocnum)));
				ok = false;
		}
		if (!ok)
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("%s operator class \"%s\" contains function %s with wrong signature for support number %d",
							amname, opclassname, format_procedure(proc->amproc), proc->amprocnum)));
			result = false;
		}
	}
	ReleaseCatCacheList(proclist);

	oprlist = SearchSysCacheList1(AMOPSTRATEGY, ObjectIdGetDatum(opfamilyoid));
	for (int i = 0; i < oprlist->n_members; i++)
	{
		Form_pg_amop op = (Form_pg_amop) GETSTRUCT(&oprlist->members[i]->tuple);

		if (op->amopstrategy != 1 || op->amoppurpose != AMOP_ORDER ||
			!check_amop_signature(op->amopopr, FLOAT8OID, op->amoplefttype, op->amoprighttype))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("%s operator class \"%s\" contains operator %s that is not a float8 ordering operator with strategy 1",
							amname, opclassname, format_operator(op->amopopr))));
			result = false;
		}
	}
	ReleaseCatCacheList(oprlist);

	if (!have_dist || !have_support)
	{
		ereport(INFO,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("%s operator class \"%s\" is missing support function %d",
						amname, opclassname, !have_dist ? VEC_DISTANCE_PROC : VEC_TYPE_SUPPORT_PROC)));
		result = false;
	}

	ReleaseSysCache(classtup);
	return result;
}

/*
 * GenericXLogStart pallocs a 64 kB state for each record and Finish frees
 * it.  From an ordinary memory context that is a malloc and a free every
 * time, and glibc handed the memory back to the kernel and faulted it in
 * again: a fifth of the time of an hnsw insert, which writes a record per
 * back-link.  The states come instead from a generation context whose
 * first block holds one state and is kept.  A record is always finished
 * or aborted before the next one starts, so a state an error left behind
 * is dropped by resetting the context when the next record starts.
 */
GenericXLogState *
VecXLogStart(Relation index)
{
#ifdef VEC_HAVE_KEPT_GENERATION_CONTEXT
	static MemoryContext cxt = NULL;
	MemoryContext old;
	GenericXLogState *state;

	if (cxt == NULL)
		cxt = GenerationContextCreate(TopMemoryContext, "vector generic WAL states",
									  128 * 1024, 128 * 1024, 2 * 1024 * 1024);
	else
		MemoryContextReset(cxt);
	old = MemoryContextSwitchTo(cxt);
	state = GenericXLogStart(index);
	MemoryContextSwitchTo(old);
	return state;
#else
	return GenericXLogStart(index);
#endif
}
