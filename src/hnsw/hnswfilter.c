/*
 * hnswfilter.c
 *	  Filter columns: the key columns of an hnsw index after the vector.
 *
 * CREATE INDEX ON items USING hnsw (embedding vector_l2_ops, category)
 * stores each row's category in its node record, after the neighbour
 * list, and a scan with WHERE category = $1 (or IN (...)) as an index
 * condition tests it on every node it scores: a node that fails routes the
 * walk but is never a result, so that hnsw.ef_search counts rows that
 * match, and a LIMIT comes back full whenever enough rows match (README.md,
 * "Filter columns").
 *
 * A value takes 4 bytes: int2, int4 and bool are stored as themselves and
 * compared exactly; int8, text (under the column's collation, as its hash
 * opclass does) and uuid as a 32-bit hash, and then the executor checks
 * the condition again on the heap row (xs_recheck), so a collision costs a
 * heap fetch, never a wrong row.  A bitmask of the row's NULL filter
 * columns comes first: a NULL never satisfies =.
 */
#include "compat.h"

#include "catalog/pg_type.h"
#include "storage/bufmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "hnsw.h"

typedef struct HnswFilterKey
{
	int			col;			/* filter column: index column col + 2 */
	int			nvals;
	uint32	   *vals;			/* accepted values, sorted, distinct */
} HnswFilterKey;

struct HnswFilter
{
	bool		empty;			/* no row can match: a NULL or an empty IN list */
	bool		lossy;			/* some key compares hashes */
	int			nkeys;
	HnswFilterKey keys[FLEXIBLE_ARRAY_MEMBER];
};

Size
HnswFilterSize(int nfilters)
{
	return sizeof(uint32) * (1 + nfilters);
}

static int
filterKind(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
		case INT4OID:
			return HNSW_FILTER_INT32;
		case INT8OID:
			return HNSW_FILTER_INT64;
		case BOOLOID:
			return HNSW_FILTER_BOOL;
		case TEXTOID:
			return HNSW_FILTER_TEXT;
		case UUIDOID:
			return HNSW_FILTER_UUID;
		default:
			return 0;
	}
}

/*
 * The index's columns: the first must have a vector opclass (one with the
 * type support function), the others a filter opclass of a type above.
 */
void
HnswFilterInitState(HnswState *st, Relation index)
{
	int			natts = IndexRelationGetNumberOfKeyAttributes(index);

	if (!OidIsValid(index_getprocid(index, 1, VEC_TYPE_SUPPORT_PROC)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the first column of an hnsw index must be a vector column"),
				 errhint("Put the vector column first, as in USING hnsw (embedding vector_l2_ops, category).")));
	st->nfilters = natts - 1;
	st->filter_size = st->nfilters > 0 ? HnswFilterSize(st->nfilters) : 0;
	for (int i = 1; i < natts; i++)
	{
		Oid			typid = index->rd_opcintype[i];
		int			kind = filterKind(typid);

		if (kind == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("hnsw filter column %d cannot be of type %s", i + 1, format_type_be(typid)),
					 errhint("Filter columns, the columns after the vector, may be of types int2, int4, int8, bool, text and uuid.")));
		st->filter_kind[i - 1] = kind;
		st->filter_type[i - 1] = typid;
		st->filter_coll[i - 1] = index->rd_indcollation[i];
	}
}

/* An integer of type typid (int2, int4 or int8) as an int64. */
static int64
intValue(Oid typid, Datum d)
{
	switch (typid)
	{
		case INT2OID:
			return DatumGetInt16(d);
		case INT4OID:
			return DatumGetInt32(d);
		case INT8OID:
			return DatumGetInt64(d);
		default:
			elog(ERROR, "unexpected type %u for an hnsw integer filter column", typid);
			return 0;
	}
}

/*
 * What column col stores for value d of type typid (the column's, or the
 * right-hand type of a cross-type =).  False when no stored value can
 * equal it (an int8 outside int4's range against an int4 column).
 */
static bool
filterValue(const HnswState *st, int col, Oid typid, Datum d, uint32 *out)
{
	switch (st->filter_kind[col])
	{
		case HNSW_FILTER_INT32:
			{
				int64		v = intValue(typid, d);

				if (v < PG_INT32_MIN || v > PG_INT32_MAX)
					return false;
				*out = (uint32) (int32) v;
				return true;
			}
		case HNSW_FILTER_INT64:
			*out = (uint32) DatumGetUInt64(DirectFunctionCall2(hashint8extended,
															   Int64GetDatum(intValue(typid, d)),
															   Int64GetDatum(0)));
			return true;
		case HNSW_FILTER_BOOL:
			*out = DatumGetBool(d) ? 1 : 0;
			return true;
		case HNSW_FILTER_TEXT:
			*out = (uint32) DatumGetUInt64(DirectFunctionCall2Coll(hashtextextended,
																   st->filter_coll[col], d,
																   Int64GetDatum(0)));
			return true;
		case HNSW_FILTER_UUID:
			*out = (uint32) DatumGetUInt64(DirectFunctionCall2(uuid_hash_extended, d,
															   Int64GetDatum(0)));
			return true;
	}
	elog(ERROR, "unexpected hnsw filter kind %d", st->filter_kind[col]);
	return false;
}

/* A row's filter values (values[1..], as the index's columns hold them). */
void
HnswFilterForm(const HnswState *st, const Datum *values, const bool *isnull, uint32 *out)
{
	out[0] = 0;
	for (int i = 0; i < st->nfilters; i++)
	{
		out[1 + i] = 0;
		if (isnull[1 + i])
			out[0] |= (uint32) 1 << i;
		else if (!filterValue(st, i, st->filter_type[i], values[1 + i], &out[1 + i]))
			elog(ERROR, "hnsw filter value out of its column's range");
	}
}

static int
uint32Compare(const void *a, const void *b)
{
	uint32		x = *(const uint32 *) a;
	uint32		y = *(const uint32 *) b;

	return x < y ? -1 : x > y;
}

/*
 * The scan's filter from its index conditions: col = value, or with
 * SK_SEARCHARRAY col = ANY(array), on filter columns.  Several keys are
 * ANDed, as the executor does.
 */
HnswFilter *
HnswFilterFromKeys(const HnswState *st, ScanKey keys, int nkeys)
{
	HnswFilter *f = palloc0(offsetof(HnswFilter, keys) + sizeof(HnswFilterKey) * nkeys);

	for (int k = 0; k < nkeys; k++)
	{
		ScanKey		key = &keys[k];
		HnswFilterKey *fk = &f->keys[f->nkeys];
		int			col = key->sk_attno - 2;
		int			n = 0;

		if (col < 0 || col >= st->nfilters || key->sk_strategy != 1)
			elog(ERROR, "unexpected hnsw scan key on column %d, strategy %d",
				 key->sk_attno, key->sk_strategy);
		if (key->sk_flags & SK_ISNULL)
		{
			f->empty = true;
			continue;
		}
		fk->col = col;
		if (key->sk_flags & SK_SEARCHARRAY)
		{
			ArrayType  *arr = DatumGetArrayTypeP(key->sk_argument);
			Oid			elemtype = ARR_ELEMTYPE(arr);
			int16		typlen;
			bool		byval;
			char		align;
			Datum	   *elems;
			bool	   *nulls;
			int			nelems;

			get_typlenbyvalalign(elemtype, &typlen, &byval, &align);
			deconstruct_array(arr, elemtype, typlen, byval, align, &elems, &nulls, &nelems);
			fk->vals = palloc(sizeof(uint32) * Max(nelems, 1));
			for (int i = 0; i < nelems; i++)
				if (!nulls[i] && filterValue(st, col, elemtype, elems[i], &fk->vals[n]))
					n++;
		}
		else
		{
			Oid			typid = OidIsValid(key->sk_subtype) ? key->sk_subtype : st->filter_type[col];

			fk->vals = palloc(sizeof(uint32));
			if (filterValue(st, col, typid, key->sk_argument, &fk->vals[0]))
				n = 1;
		}
		if (n == 0)
		{
			f->empty = true;
			continue;
		}
		qsort(fk->vals, n, sizeof(uint32), uint32Compare);
		fk->nvals = 1;
		for (int i = 1; i < n; i++)
			if (fk->vals[i] != fk->vals[fk->nvals - 1])
				fk->vals[fk->nvals++] = fk->vals[i];
		if (st->filter_kind[col] != HNSW_FILTER_INT32 && st->filter_kind[col] != HNSW_FILTER_BOOL)
			f->lossy = true;
		f->nkeys++;
	}
	return f;
}

bool
HnswFilterEmpty(const HnswFilter *f)
{
	return f->empty;
}

bool
HnswFilterLossy(const HnswFilter *f)
{
	return f->lossy;
}

/* Do a node's filter values (HnswNodeFilter) pass every key? */
bool
HnswFilterMatch(const HnswFilter *f, const uint32 *values)
{
	for (int k = 0; k < f->nkeys; k++)
	{
		const HnswFilterKey *fk = &f->keys[k];
		uint32		v = values[1 + fk->col];
		int			lo = 0;
		int			hi = fk->nvals - 1;

		if (values[0] & ((uint32) 1 << fk->col))
			return false;
		while (lo < hi)
		{
			int			mid = (lo + hi) / 2;

			if (fk->vals[mid] < v)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (fk->vals[lo] != v)
			return false;
	}
	return true;
}

/* Copy node id's filter values (filter_size bytes) into dst. */
void
HnswReadFilter(HnswState *st, uint32 id, uint32 *dst)
{
	BlockNumber blk;
	int			slot;
	Buffer		buf;

	HnswLocateNode(st, id, &blk, &slot);
	buf = HnswReadBuffer(st->index, blk);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	HnswCheckPage(st->index, BufferGetPage(buf), blk, HNSW_PAGE_NODE);
	memcpy(dst, HnswNodeFilter(HnswPageNode(BufferGetPage(buf), st, slot), st), st->filter_size);
	UnlockReleaseBuffer(buf);
}
