/*
 * hnswfilter.c
 *	  Filter columns: the key columns of an hnsw index after the vector.
 *
 * CREATE INDEX ON items USING hnsw (embedding vector_l2_ops, category)
 * stores each row's category in its node record, after the neighbour
 * list, and again on tag pages, densely by node id and by column.  A scan
 * with WHERE category = $1 (or IN (...), or on an array column tags &&
 * $1 or tags @> $1) as an index condition reads the
 * tag pages for the nodes that may match; few are scored all, else the
 * walk scores only them (hnswscan.c, hnswgraph.c), and tests each scored
 * node's own values: one that fails routes the walk but is never a
 * result.  So hnsw.ef_search counts rows that match, and a LIMIT comes
 * back full whenever enough rows match (README.md, "Filter columns").
 *
 * A value takes 4 bytes: int2, int4 and bool are stored as themselves and
 * compared exactly; int8, text (under the column's collation, as its hash
 * opclass does) and uuid as a 32-bit hash, and then the executor checks
 * the condition again on the heap row (xs_recheck), so a collision costs a
 * heap fetch, never a wrong row.  An array (of any type with a hash
 * opclass) is stored as a 64-bit signature in two words, three bits per
 * element, and tested as a Bloom filter is: a row whose signature lacks a
 * bit of an element cannot hold that element; one that has them all may,
 * and the executor checks.  A bitmask of the row's NULL filter columns comes
 * first: a NULL never satisfies =, && or @>.
 */
#include "compat.h"

#include "access/generic_xlog.h"
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "storage/bufmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "hnsw.h"
#include "kernels.h"

Size
HnswFilterSize(int words)
{
	return sizeof(uint32) * (1 + words);
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
		case ANYARRAYOID:
			return HNSW_FILTER_ARRAY;
		default:
			return 0;
	}
}

static const char *
typeName(Oid typid)
{
	HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	char	   *name;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for type %u", typid);
	name = pstrdup(NameStr(((Form_pg_type) GETSTRUCT(tup))->typname));
	ReleaseSysCache(tup);
	return name;
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
	if (natts - 1 > HNSW_MAX_FILTERS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("an hnsw index can have at most %d filter columns", HNSW_MAX_FILTERS)));
	st->nfilters = natts - 1;
	st->filter_words = 0;
	for (int i = 1; i < natts; i++)
	{
		Oid			typid = index->rd_opcintype[i];
		int			kind = filterKind(typid);

		/* array_ops serves every array whose elements can be hashed */
		if (kind == HNSW_FILTER_ARRAY)
		{
			Oid			elemtype;

			typid = TupleDescAttr(RelationGetDescr(index), i)->atttypid;
			elemtype = get_element_type(typid);
			if (!OidIsValid(elemtype) ||
				!OidIsValid(lookup_type_cache(elemtype, TYPECACHE_HASH_EXTENDED_PROC)->hash_extended_proc))
				kind = 0;
		}

		/*
		 * The type's bare name: from PostgreSQL 17 on, CREATE INDEX runs
		 * under a search_path of pg_catalog alone, where format_type_be
		 * would qualify ours.
		 */
		if (kind == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("hnsw filter column %d cannot be of type %s", i + 1,
							OidIsValid(get_element_type(typid)) ? format_type_be(typid) : typeName(typid)),
					 errhint("Filter columns, the columns after the vector, may be of types int2, int4, int8, bool, text and uuid, or arrays of a type with a hash operator class.")));
		st->filter_kind[i - 1] = kind;
		st->filter_type[i - 1] = typid;
		st->filter_coll[i - 1] = index->rd_indcollation[i];
		st->filter_word[i - 1] = st->filter_words;
		st->filter_words += kind == HNSW_FILTER_ARRAY ? 2 : 1;
	}
	if (st->filter_words > HNSW_MAX_FILTERS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("an hnsw index can have at most %d filter columns", HNSW_MAX_FILTERS),
				 errdetail("An array column counts as two.")));
	st->filter_size = st->nfilters > 0 ? HnswFilterSize(st->filter_words) : 0;
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
 * The three bits element e (of tce's type, under collation coll) sets in
 * an array's signature, from three 6-bit pieces of its 64-bit hash.  An
 * int2 or int4 sets the bit of its own low six bits instead of the first,
 * so that labels 0 to 63 never share it: a signature test on them has no
 * false matches.
 */
static uint64
elementBits(TypeCacheEntry *tce, Oid coll, Datum e)
{
	uint64		h;
	uint64		first;

	if (tce->type_id == INT4OID || tce->type_id == INT2OID)
	{
		uint32		v = tce->type_id == INT4OID ? (uint32) DatumGetInt32(e) : (uint32) (int32) DatumGetInt16(e);

		h = hash_bytes_uint32_extended(v, 0);
		first = v & 63;
	}
	else
	{
		h = DatumGetUInt64(FunctionCall2Coll(&tce->hash_extended_proc_finfo, coll, e, Int64GetDatum(0)));
		first = h & 63;
	}
	return (UINT64CONST(1) << first) | (UINT64CONST(1) << ((h >> 6) & 63)) |
		(UINT64CONST(1) << ((h >> 12) & 63));
}

/*
 * The bits of array a's non-NULL elements: ORed (all), and, if masks is
 * not NULL, each element's apart in a palloc'd *masks.  Returns how many
 * are not NULL (a NULL element is never equal to one, and sets none);
 * *nelems_out, if not NULL, gets the count with NULLs.  One detoast of a
 * serves all of it.
 */
static int
arrayBits(Datum a, Oid coll, uint64 *all, uint64 **masks, int *nelems_out)
{
	ArrayType  *arr = DatumGetArrayTypeP(a);
	TypeCacheEntry *tce = lookup_type_cache(ARR_ELEMTYPE(arr), TYPECACHE_HASH_EXTENDED_PROC_FINFO);
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int			n = 0;

	if (!OidIsValid(tce->hash_extended_proc))
		elog(ERROR, "no extended hash function for type %u", tce->type_id);
	deconstruct_array(arr, tce->type_id, tce->typlen, tce->typbyval, tce->typalign,
					  &elems, &nulls, &nelems);
	*all = 0;
	if (masks)
		*masks = palloc(sizeof(uint64) * Max(nelems, 1));
	if (nelems_out)
		*nelems_out = nelems;
	for (int i = 0; i < nelems; i++)
	{
		uint64		bits;

		if (nulls[i])
			continue;
		bits = elementBits(tce, coll, elems[i]);
		*all |= bits;
		if (masks)
			(*masks)[n] = bits;
		n++;
	}
	pfree(elems);
	pfree(nulls);
	if ((Pointer) arr != DatumGetPointer(a))
		pfree(arr);
	return n;
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
		case HNSW_FILTER_ARRAY:
			{
				uint64		sig;

				arrayBits(d, st->filter_coll[col], &sig, NULL, NULL);
				out[0] = (uint32) sig;
				out[1] = (uint32) (sig >> 32);
				return true;
			}
	}
	elog(ERROR, "unexpected hnsw filter kind %d", st->filter_kind[col]);
	return false;
}

/* A row's filter values (values[1..], as the index's columns hold them). */
void
HnswFilterForm(const HnswState *st, const Datum *values, const bool *isnull, uint32 *out)
{
	memset(out, 0, st->filter_size);
	out[0] = HNSW_FILTER_WRITTEN;
	for (int i = 0; i < st->nfilters; i++)
	{
		if (isnull[1 + i])
			out[0] |= (uint32) 1 << i;
		else if (!filterValue(st, i, st->filter_type[i], values[1 + i], &out[1 + st->filter_word[i]]))
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
 * SK_SEARCHARRAY col = ANY(array), on scalar filter columns; col && array
 * (some element's bits all set) or col @> array (every element's) on array
 * ones.  Several keys are ANDed, as the executor does.
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

		if (col < 0 || col >= st->nfilters ||
			(st->filter_kind[col] == HNSW_FILTER_ARRAY) !=
			(key->sk_strategy != HNSW_STRATEGY_EQUAL) ||
			(key->sk_strategy != HNSW_STRATEGY_EQUAL && (key->sk_flags & SK_SEARCHARRAY)))
			elog(ERROR, "unexpected hnsw scan key on column %d, strategy %d",
				 key->sk_attno, key->sk_strategy);
		if (key->sk_flags & SK_ISNULL)
		{
			f->empty = true;
			continue;
		}
		fk->col = col;
		fk->word = st->filter_word[col];
		fk->test = HNSW_KEY_IN;
		if (key->sk_strategy != HNSW_STRATEGY_EQUAL)
		{
			uint64		all;
			int			nelems;

			/*
			 * @> '{}' holds for every array, one with a NULL element for
			 * none; && holds when some non-NULL element is shared
			 */
			n = arrayBits(key->sk_argument, st->filter_coll[col], &all, &fk->masks, &nelems);
			if (key->sk_strategy == HNSW_STRATEGY_CONTAINS)
			{
				fk->test = HNSW_KEY_ALL;
				fk->masks[0] = all;
				n = n == nelems ? 1 : 0;
			}
			else
				fk->test = HNSW_KEY_ANY;
			if (n == 0)
				f->empty = true;
			fk->nvals = n;
			f->lossy = true;
			f->signatures = true;
			if (n > 0)
				f->nkeys++;
			continue;
		}
		else if (key->sk_flags & SK_SEARCHARRAY)
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

/* ---------------------------------------------------------------- tags */

/*
 * A tag page is laid out by column, so that a scan reads only the columns
 * its conditions name, and compares a whole word of ids at a time: for T
 * ids (a multiple of 64, from a multiple of T), a bitmap of the entries
 * written, a bitmap of NULLs per column, then T values per column.
 */
int
HnswTagsPerPage(const HnswState *st)
{
	return (int) ((HNSW_PAGE_ROOM * 8 / (1 + st->nfilters + 32 * st->filter_words)) & ~63);
}

#define TagDir(page)	((HnswTagDirData *) PageGetContents(page))
#define TagBase(page)	((char *) (page) + MAXALIGN(SizeOfPageHeaderData))
#define TagWritten(page) ((uint64 *) TagBase(page))
#define TagNulls(page, per, col) ((uint64 *) (TagBase(page) + (per) / 8 * (1 + (col))))
#define TagValues(st, page, per, word) \
	((uint32 *) (TagBase(page) + (per) / 8 * (1 + (st)->nfilters) + sizeof(uint32) * (per) * (word)))

static void
initTagPage(HnswState *st, Page page)
{
	int			per = HnswTagsPerPage(st);

	HnswInitPage(page, HNSW_PAGE_TAGS);
	((PageHeader) page)->pd_lower = MAXALIGN(SizeOfPageHeaderData) +
		per / 8 * (1 + st->nfilters) + sizeof(uint32) * per * st->filter_words;
}

/* Write entry slot of a tag page from a filter area (HnswFilterForm). */
static void
tagWrite(HnswState *st, Page page, int slot, const uint32 *filter)
{
	int			per = HnswTagsPerPage(st);
	uint64		bit = UINT64CONST(1) << (slot & 63);

	TagWritten(page)[slot >> 6] |= bit;
	for (int c = 0; c < st->nfilters; c++)
	{
		if (filter[0] & ((uint32) 1 << c))
			TagNulls(page, per, c)[slot >> 6] |= bit;
		else
			TagNulls(page, per, c)[slot >> 6] &= ~bit;
	}
	for (int w = 0; w < st->filter_words; w++)
		TagValues(st, page, per, w)[slot] = filter[1 + w];
}

/* Entry slot as a filter area; false when it was never written. */
static bool
tagRead(HnswState *st, Page page, int slot, uint32 *out)
{
	int			per = HnswTagsPerPage(st);
	uint64		bit = UINT64CONST(1) << (slot & 63);

	if (!(TagWritten(page)[slot >> 6] & bit))
		return false;
	out[0] = HNSW_FILTER_WRITTEN;
	for (int c = 0; c < st->nfilters; c++)
		if (TagNulls(page, per, c)[slot >> 6] & bit)
			out[0] |= (uint32) 1 << c;
	for (int w = 0; w < st->filter_words; w++)
		out[1 + w] = TagValues(st, page, per, w)[slot];
	return true;
}

static void
initTagDirPage(Page page)
{
	HnswInitPage(page, HNSW_PAGE_TAGDIR);
	TagDir(page)->next = InvalidBlockNumber;
	TagDir(page)->n = 0;
	((PageHeader) page)->pd_lower = (char *) TagDir(page)->blks - (char *) page;
}

static void
setTagDirLower(Page page)
{
	((PageHeader) page)->pd_lower = (char *) &TagDir(page)->blks[TagDir(page)->n] - (char *) page;
}

static void
badTagDir(HnswState *st, BlockNumber blk)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("index \"%s\" tag directory page %u is damaged",
					RelationGetRelationName(st->index), blk),
			 errhint("REINDEX the index.")));
}

/*
 * The tag pages the directory lists, in order, into blks (palloc'd, *n of
 * them).
 */
static BlockNumber *
tagPages(HnswState *st, uint32 *n)
{
	BlockNumber dir = st->tagdir_blk;
	uint32		cap = 64;
	BlockNumber *blks = palloc(sizeof(BlockNumber) * cap);
	uint32		ndirs = 0;

	*n = 0;
	while (dir != InvalidBlockNumber)
	{
		Buffer		buf = HnswReadBuffer(st->index, dir);
		Page		page;
		HnswTagDirData *d;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		HnswCheckPage(st->index, page, dir, HNSW_PAGE_TAGDIR);
		d = TagDir(page);
		/* a chain longer than the relation has blocks loops */
		if (d->n > HNSW_TAGDIR_SLOTS ||
			(++ndirs > 1 && ndirs > RelationGetNumberOfBlocks(st->index)))
			badTagDir(st, dir);
		if (*n + d->n > cap)
		{
			cap = Max(cap * 2, *n + d->n);
			blks = repalloc(blks, sizeof(BlockNumber) * cap);
		}
		memcpy(blks + *n, d->blks, sizeof(BlockNumber) * d->n);
		*n += d->n;
		dir = d->n == HNSW_TAGDIR_SLOTS ? d->next : InvalidBlockNumber;
		UnlockReleaseBuffer(buf);
	}
	return blks;
}

/*
 * Make the tag pages cover ids below nids, at least: new ones are zeros
 * (entries never written).  Extenders serialise on the first directory
 * page, or on the metapage while there is none (an index built empty).
 * Each new tag page goes into one WAL record with the directory page that
 * lists it.
 */
void
HnswTagsEnsure(HnswState *st, uint32 nids)
{
	int			per = HnswTagsPerPage(st);
	uint32		need = nids / per + (nids % per != 0);

	/* usually covered: say so under share locks, as scans read it */
	if (st->tagdir_blk != InvalidBlockNumber)
	{
		uint32		have;

		pfree(tagPages(st, &have));
		if (have >= need)
			return;
	}
	if (st->tagdir_blk == InvalidBlockNumber)
	{
		Buffer		metabuf = ReadBuffer(st->index, HNSW_METAPAGE_BLKNO);
		HnswMetaPage meta;

		LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
		meta = HnswPageGetMeta(BufferGetPage(metabuf));
		if (HnswMetaFilter(meta)->tagdir_blk == InvalidBlockNumber)
		{
			Buffer		dirbuf = VecIndexNewBuffer(st->index, MAIN_FORKNUM);
			GenericXLogState *xlog = VecXLogStart(st->index);
			Page		metapage = GenericXLogRegisterBuffer(xlog, metabuf, 0);
			Page		dirpage = GenericXLogRegisterBuffer(xlog, dirbuf, GENERIC_XLOG_FULL_IMAGE);

			initTagDirPage(dirpage);
			HnswMetaFilter(HnswPageGetMeta(metapage))->tagdir_blk = BufferGetBlockNumber(dirbuf);
			GenericXLogFinish(xlog);
			UnlockReleaseBuffer(dirbuf);
		}
		st->tagdir_blk = HnswMetaFilter(meta)->tagdir_blk;
		UnlockReleaseBuffer(metabuf);
	}

	for (;;)
	{
		Buffer		firstbuf = HnswReadBuffer(st->index, st->tagdir_blk);
		Buffer		lastbuf;
		BlockNumber last = st->tagdir_blk;
		uint32		have = 0;
		uint32		ndirs = 1;
		Buffer		tagbuf;
		Buffer		newdir = InvalidBuffer;
		GenericXLogState *xlog;
		Page		lastpage;
		Page		tagpage;

		LockBuffer(firstbuf, BUFFER_LOCK_EXCLUSIVE);
		HnswCheckPage(st->index, BufferGetPage(firstbuf), last, HNSW_PAGE_TAGDIR);
		lastbuf = firstbuf;
		for (;;)
		{
			HnswTagDirData *d = TagDir(BufferGetPage(lastbuf));

			if (d->n > HNSW_TAGDIR_SLOTS)
				badTagDir(st, last);
			have += d->n;
			if (d->n < HNSW_TAGDIR_SLOTS || d->next == InvalidBlockNumber)
				break;
			if (++ndirs > RelationGetNumberOfBlocks(st->index))
				badTagDir(st, last);
			last = d->next;
			if (lastbuf != firstbuf)
				UnlockReleaseBuffer(lastbuf);
			lastbuf = HnswReadBuffer(st->index, last);
			LockBuffer(lastbuf, BUFFER_LOCK_EXCLUSIVE);
			HnswCheckPage(st->index, BufferGetPage(lastbuf), last, HNSW_PAGE_TAGDIR);
		}
		if (have >= need)
		{
			if (lastbuf != firstbuf)
				UnlockReleaseBuffer(lastbuf);
			UnlockReleaseBuffer(firstbuf);
			return;
		}
		tagbuf = VecIndexNewBuffer(st->index, MAIN_FORKNUM);
		if (TagDir(BufferGetPage(lastbuf))->n == HNSW_TAGDIR_SLOTS)
			newdir = VecIndexNewBuffer(st->index, MAIN_FORKNUM);
		xlog = VecXLogStart(st->index);
		tagpage = GenericXLogRegisterBuffer(xlog, tagbuf, GENERIC_XLOG_FULL_IMAGE);
		initTagPage(st, tagpage);
		lastpage = GenericXLogRegisterBuffer(xlog, lastbuf, 0);
		if (BufferIsValid(newdir))
		{
			Page		dirpage = GenericXLogRegisterBuffer(xlog, newdir, GENERIC_XLOG_FULL_IMAGE);

			initTagDirPage(dirpage);
			TagDir(lastpage)->next = BufferGetBlockNumber(newdir);
			lastpage = dirpage;
		}
		TagDir(lastpage)->blks[TagDir(lastpage)->n++] = BufferGetBlockNumber(tagbuf);
		setTagDirLower(lastpage);
		GenericXLogFinish(xlog);
		UnlockReleaseBuffer(tagbuf);
		if (BufferIsValid(newdir))
			UnlockReleaseBuffer(newdir);
		if (lastbuf != firstbuf)
			UnlockReleaseBuffer(lastbuf);
		UnlockReleaseBuffer(firstbuf);
	}
}

/*
 * Write node id's filter values into its tag entry (its own WAL record),
 * if a tag page covers it; else the entry stays unwritten, and the node a
 * candidate of every filter.  An insert does this after it allocated the
 * node and before it returns, under the insert lock: until then its row is
 * not committed, and VACUUM frees no slot meanwhile, so an entry a scan
 * sees is either unwritten or the values of the node whose row it may
 * return (a freed slot's old entry stays until the slot is taken again).
 */
void
HnswTagSet(HnswState *st, uint32 id, const uint32 *filter)
{
	int			per = HnswTagsPerPage(st);
	uint32		n;
	BlockNumber *blks = tagPages(st, &n);
	Buffer		buf;
	GenericXLogState *xlog;
	Page		page;

	if (id / per >= n)
		return;
	buf = HnswReadBuffer(st->index, blks[id / per]);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	HnswCheckPage(st->index, BufferGetPage(buf), blks[id / per], HNSW_PAGE_TAGS);
	xlog = VecXLogStart(st->index);
	page = GenericXLogRegisterBuffer(xlog, buf, 0);
	tagWrite(st, page, id % per, filter);
	GenericXLogFinish(xlog);
	UnlockReleaseBuffer(buf);
	pfree(blks);
}

/*
 * The build's tag pages, for nodes 0 .. n - 1 (entry gives node id's
 * values), and the directory pages that list them, appended to the
 * relation, dirtied without WAL: the build logs every page once it is
 * done (HnswBuildWrite).  Returns the first directory page.
 */
BlockNumber
HnswWriteTagPages(HnswState *st, uint32 n, const uint32 *(*entry) (void *arg, uint32 id), void *arg)
{
	int			per = HnswTagsPerPage(st);
	uint32		ntags = n / per + (n % per != 0);
	uint32		ndirs = Max(1, ntags / HNSW_TAGDIR_SLOTS + (ntags % HNSW_TAGDIR_SLOTS != 0));
	BlockNumber first_tag = InvalidBlockNumber;
	BlockNumber first_dir = InvalidBlockNumber;

	for (uint32 k = 0; k < ntags; k++)
	{
		Buffer		buf = VecIndexNewBuffer(st->index, MAIN_FORKNUM);
		Page		page = BufferGetPage(buf);

		if (k == 0)
			first_tag = BufferGetBlockNumber(buf);
		/* appended in turn by this backend alone: consecutive blocks */
		else if (BufferGetBlockNumber(buf) != first_tag + k)
			elog(ERROR, "hnsw build's tag pages are not consecutive");
		initTagPage(st, page);
		for (uint32 id = k * per; id < n && id < (k + 1) * per; id++)
			tagWrite(st, page, id - k * per, entry(arg, id));
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
		CHECK_FOR_INTERRUPTS();
	}
	for (uint32 d = 0; d < ndirs; d++)
	{
		Buffer		buf = VecIndexNewBuffer(st->index, MAIN_FORKNUM);
		Page		page = BufferGetPage(buf);
		uint32		from = d * HNSW_TAGDIR_SLOTS;
		uint32		cnt = Min((uint32) HNSW_TAGDIR_SLOTS, ntags - Min(ntags, from));

		if (d == 0)
			first_dir = BufferGetBlockNumber(buf);
		else if (BufferGetBlockNumber(buf) != first_dir + d)
			elog(ERROR, "hnsw build's tag directory pages are not consecutive");
		initTagDirPage(page);
		for (uint32 i = 0; i < cnt; i++)
			TagDir(page)->blks[i] = first_tag + from + i;
		TagDir(page)->n = cnt;
		TagDir(page)->next = d + 1 < ndirs ? BufferGetBlockNumber(buf) + 1 : InvalidBlockNumber;
		setTagDirLower(page);
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}
	return first_dir;
}

/*
 * The nodes a filter may match: those whose tag entry passes it, those
 * whose entry was never written, and those past the tag pages, all below
 * the snapshot's node_count.  Sets their bits in may (node_count bits,
 * zeroed by the caller), writes the first maxids of them to ids, and
 * returns how many there are.  A tag page starts at a multiple of 64 ids,
 * so its words of ids are words of may.
 *
 * Every filtered scan runs this over the whole index, so one key (the usual
 * case) is compared a page at a time by a SIMD kernel (u32_eq_mask for =,
 * u32_pair_has_mask for a one-element array condition): a plain loop was
 * 13 % of a 10 % filter's query on sift-128 at 100,000 rows.
 */
uint32
HnswFilterCandidates(HnswState *st, const HnswFilter *f, uint8 *may, uint32 *ids, uint32 maxids)
{
	int			per = HnswTagsPerPage(st);
	uint32		ntags;
	BlockNumber *blks = tagPages(st, &ntags);
	uint32		count = 0;
	uint32		covered = Min(st->node_count, ntags * (uint32) per);
	uint32		filt[INDEX_MAX_KEYS + 1];
	uint64	   *words = palloc(sizeof(uint64) * (per / 64));
	const HnswFilterKey *fk = &f->keys[0];
	bool		eq = f->nkeys == 1 && fk->nvals == 1 && fk->test == HNSW_KEY_IN;
	bool		has = f->nkeys == 1 && fk->nvals == 1 && fk->test != HNSW_KEY_IN;

	for (uint32 k = 0; k * (uint32) per < covered; k++)
	{
		Buffer		buf = HnswReadBuffer(st->index, blks[k]);
		Page		page;
		uint32		first = k * per;
		uint32		end = Min(covered, first + per);
		int			nwords = (end - first + 63) / 64;
		const uint64 *written;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		HnswCheckPage(st->index, page, blks[k], HNSW_PAGE_TAGS);
		written = TagWritten(page);

		/* a partial last word is compared whole (a page holds per values) and masked */
		if (eq)
			vk_active->u32_eq_mask(TagValues(st, page, per, fk->word), nwords, fk->vals[0],
								   words);
		else if (has)
			vk_active->u32_pair_has_mask(TagValues(st, page, per, fk->word),
										 TagValues(st, page, per, fk->word + 1), nwords,
										 (uint32) fk->masks[0], (uint32) (fk->masks[0] >> 32),
										 words);
		for (int w = 0; w < nwords; w++)
		{
			uint32		base = first + w * 64;
			int			nids = Min(64, end - base);
			uint64		match = 0;

			if (eq || has)
				match = words[w] & ~TagNulls(page, per, fk->col)[w];
			else if (f->nkeys == 1)
			{
				/* an IN list, or an array condition of several elements */
				const uint32 *vals = TagValues(st, page, per, fk->word) + w * 64;

				filt[0] = HNSW_FILTER_WRITTEN;
				for (int j = 0; j < nids; j++)
				{
					filt[1 + fk->word] = vals[j];
					if (fk->test != HNSW_KEY_IN)
						filt[2 + fk->word] = TagValues(st, page, per, fk->word + 1)[w * 64 + j];
					match |= (uint64) HnswFilterMatch(f, filt) << j;
				}
				match &= ~TagNulls(page, per, fk->col)[w];
			}
			else
			{
				for (int j = 0; j < nids; j++)
					if (tagRead(st, page, w * 64 + j, filt) && HnswFilterMatch(f, filt))
						match |= UINT64CONST(1) << j;
			}
			/* entries never written may match */
			match |= ~written[w];
			if (nids < 64)
				match &= (UINT64CONST(1) << nids) - 1;
			if (match == 0)
				continue;
			for (int b = 0; b < (nids + 7) / 8; b++)
				may[base / 8 + b] = (uint8) (match >> (8 * b));
			if (count >= maxids)
			{
				count += pg_popcount64(match);
				continue;
			}
			while (match != 0)
			{
				if (count < maxids)
					ids[count] = base + pg_rightmost_one_pos64(match);
				count++;
				match &= match - 1;
			}
		}
		UnlockReleaseBuffer(buf);
	}
	for (uint32 id = covered; id < st->node_count; id++)
	{
		may[id >> 3] |= 1 << (id & 7);
		if (count < maxids)
			ids[count] = id;
		count++;
	}
	pfree(words);
	pfree(blks);
	return count;
}

/*
 * vector_index_check(): every written tag entry of a node in use must be
 * the node's values (filters, filter_size bytes per node id).  A wrong one
 * keeps the node from every scan whose filter its own values pass.  A
 * freed slot's entry may be its old node's.
 */
void
HnswCheckTags(HnswState *st, VecCheck *c, const uint8 *flags, const char *filters)
{
	int			per = HnswTagsPerPage(st);
	uint32		ntags;
	BlockNumber *blks = tagPages(st, &ntags);
	uint32		bad = 0;

	for (uint32 k = 0; k < ntags && k * (uint32) per < st->node_count; k++)
	{
		Buffer		buf = HnswReadBuffer(st->index, blks[k]);
		Page		page;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (!HnswPageIs(page, HNSW_PAGE_TAGS))
		{
			VecCheckProblem(c, "block %u is listed as a tag page but is not one", blks[k]);
			UnlockReleaseBuffer(buf);
			continue;
		}
		for (uint32 id = k * per; id < st->node_count && id < (k + 1) * (uint32) per; id++)
		{
			uint32		e[INDEX_MAX_KEYS + 1];

			if (!tagRead(st, page, id - k * per, e) || (flags[id] & HNSW_NODE_FREE))
				continue;
			if (memcmp(e, filters + (Size) id * st->filter_size, st->filter_size) != 0 &&
				++bad <= 10)
				VecCheckProblem(c, "node %u's tag entry on block %u is not its filter values",
								id, blks[k]);
		}
		UnlockReleaseBuffer(buf);
		CHECK_FOR_INTERRUPTS();
	}
	if (bad > 0)
		VecCheckProblem(c, "%u nodes have a tag entry that is not their filter values", bad);
	pfree(blks);
}
