/*
 * hnswvalidate.c
 *	  amvalidate: check an hnsw operator class for what the AM relies on.
 */
#include "compat.h"

#include "access/amvalidate.h"
#include "access/htup_details.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "hnsw.h"

/*
 * An hnsw opclass has exactly one operator, strategy 1, an ordering
 * operator returning float8, and support functions 1 (the distance,
 * returning float8) and 3 (the type support, internal -> internal).
 */
bool
hnswvalidate(Oid opclassoid)
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
	for (int i = 0; i < proclist->n_members; i++)
	{
		Form_pg_amproc proc = (Form_pg_amproc) GETSTRUCT(&proclist->members[i]->tuple);
		bool		ok;

		switch (proc->amprocnum)
		{
			case HNSW_DISTANCE_PROC:
				ok = check_amproc_signature(proc->amproc, FLOAT8OID, true, 2, 2,
											proc->amproclefttype, proc->amproclefttype);
				have_dist |= ok;
				break;
			case HNSW_TYPE_SUPPORT_PROC:
				ok = check_amproc_signature(proc->amproc, INTERNALOID, true, 1, 1, INTERNALOID);
				have_support |= ok;
				break;
			default:
				ereport(INFO,
						(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
						 errmsg("hnsw operator class \"%s\" contains function %s with invalid support number %d",
								opclassname, format_procedure(proc->amproc), proc->amprocnum)));
				ok = false;
		}
		if (!ok)
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("hnsw operator class \"%s\" contains function %s with wrong signature for support number %d",
							opclassname, format_procedure(proc->amproc), proc->amprocnum)));
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
					 errmsg("hnsw operator class \"%s\" contains operator %s that is not a float8 ordering operator with strategy 1",
							opclassname, format_operator(op->amopopr))));
			result = false;
		}
	}
	ReleaseCatCacheList(oprlist);

	if (!have_dist || !have_support)
	{
		ereport(INFO,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("hnsw operator class \"%s\" is missing support function %d",
						opclassname, !have_dist ? HNSW_DISTANCE_PROC : HNSW_TYPE_SUPPORT_PROC)));
		result = false;
	}

	ReleaseSysCache(classtup);
	return result;
}
