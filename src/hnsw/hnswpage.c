/*
 * hnswpage.c
 *	  Page and record geometry, the metapage, and per-operation state.
 */
#include "compat.h"

#include "access/relscan.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "hnsw.h"

Size
HnswNodeSize(Size item_size, int m, Size filter_size)
{
	return MAXALIGN(sizeof(HnswNodeData) + item_size + sizeof(uint32) * 2 * m + filter_size);
}

int
HnswNodesPerPage(Size node_size)
{
	Size		avail = BLCKSZ - HNSW_NODE_START - MAXALIGN(sizeof(HnswPageOpaqueData));

	return (int) (avail / node_size);
}

/*
 * The most nodes an index may allocate: ids stay below HNSW_NO_NODE, and
 * the slots of whole node pages (node_capacity) fit a uint32.  Flagged
 * nodes keep their ids, so this counts every node since the last build.
 * hnsw.test_max_nodes lowers it for tests.
 */
uint32
HnswMaxNodes(const HnswState *st)
{
	uint32		max_capacity = (PG_UINT32_MAX / st->nodes_per_page) * st->nodes_per_page;
	uint32		max = Min(max_capacity, HNSW_NO_NODE - 1);

	if (hnsw_test_max_nodes > 0)
		max = Min(max, (uint32) hnsw_test_max_nodes);
	return max;
}

/* The run table's size: HNSW_MAX_RUNS, or less under hnsw.test_max_runs. */
int
HnswMaxRuns(void)
{
	return hnsw_test_max_runs > 0 ? Min(hnsw_test_max_runs, HNSW_MAX_RUNS) : HNSW_MAX_RUNS;
}

void
HnswTooManyNodes(const HnswState *st)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("hnsw index \"%s\" has too many nodes",
					RelationGetRelationName(st->index)),
			 errdetail("An hnsw index can allocate at most %u nodes, deleted rows' nodes included, until it is rebuilt.",
					   HnswMaxNodes(st)),
			 errhint("REINDEX the index.")));
}

/*
 * A pause of ms milliseconds that a cancel or shutdown interrupts, for the
 * test settings (hnsw.test_extend_delay).
 */
void
HnswTestDelay(int ms)
{
	TimestampTz end;

	if (ms <= 0)
		return;
	end = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);
	for (;;)
	{
		long		left;

		CHECK_FOR_INTERRUPTS();
		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), end);
		if (left <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(left, 1000), WAIT_EVENT_PG_SLEEP);
		ResetLatch(MyLatch);
	}
}

/*
 * Fill the parts of the state that come from the catalogs: the type ops
 * (FUNCTION 3), the metric (from FUNCTION 1's address) and the options.
 * The metapage snapshot is left empty; see HnswLoadMeta.
 */
void
HnswInitState(HnswState *st, Relation index)
{
	HnswOptions *opts = (HnswOptions *) index->rd_options;

	memset(st, 0, offsetof(HnswState, runs));
	st->index = index;
	/* the vector column first, then the filter columns (hnswfilter.c) */
	HnswFilterInitState(st, index);
	st->ops = VecIndexTypeOps(index, &st->metric);
	st->dist = st->ops->distance(st->metric);
	st->m = opts ? opts->m : HNSW_DEFAULT_M;
	st->ef_construction = opts ? opts->ef_construction : HNSW_DEFAULT_EF_CONSTRUCTION;
	st->dim = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;
	st->item_refs = st->ops->item_len != NULL;
	st->gdim = st->dim;
	st->codes_blk = InvalidBlockNumber;
	st->tagdir_blk = InvalidBlockNumber;
	if (st->dim > 0)
	{
		int			bits = HnswChooseBits(st->ops, st->metric, st->dim, st->m,
										  opts ? opts->bits : 0);

		/* a variable-length item is out of line: the record holds a ref */
		if (bits > 0)
			HnswSetCodesGeometry(st, bits,
								 HnswChooseRerankBits(st->dim, st->m, st->filter_size, bits,
													  opts ? opts->rerank_bits : 0,
													  opts == NULL || opts->bits == 0));
		else
			HnswSetFloatGeometry(st);
	}
	st->entry_id = HNSW_NO_NODE;
	st->entry_level = -1;
}

/*
 * Is the metapage ours, of our format, and of a geometry the rest of the
 * code may index by?  Everything the snapshot hands out (entry point, run
 * table, counts) is range-checked here, once per snapshot.
 */
static void
checkMeta(HnswState *st, Page page)
{
	Relation	index = st->index;
	HnswMetaPage meta = HnswPageGetMeta(page);
	bool		runs_ok = true;

	if (!HnswPageIs(page, HNSW_PAGE_META) || meta->magic != HNSW_MAGIC)
		VecIndexNotValid(index, "hnsw", NULL);
	if (meta->version != HNSW_FORMAT_VERSION && meta->version != HNSW_FORMAT_CODES)
		VecIndexNotValid(index, "hnsw", psprintf("It has hnsw format version %u, but this library reads versions %d and %d.",
								meta->version, HNSW_FORMAT_VERSION, HNSW_FORMAT_CODES));
	if (meta->version == HNSW_FORMAT_CODES &&
		(HnswMetaCodes(meta)->bits < 1 || HnswMetaCodes(meta)->bits > HNSW_MAX_BITS ||
		 (HnswMetaCodes(meta)->rerank_bits != 0 &&
		  (HnswMetaCodes(meta)->rerank_bits <= HnswMetaCodes(meta)->bits ||
		   HnswMetaCodes(meta)->rerank_bits > HNSW_MAX_BITS)) ||
		 st->item_refs || meta->dim != (uint32) st->dim ||
		 HnswChooseBits(st->ops, st->metric, st->dim, HNSW_DEFAULT_M, HnswMetaCodes(meta)->bits) == 0 ||
		 meta->item_size != HnswCodesRecordSize(st->dim, HnswMetaCodes(meta)->bits,
												HnswMetaCodes(meta)->rerank_bits)))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" metapage does not match its definition",
						RelationGetRelationName(index)),
				 errhint("REINDEX the index.")));
	if (((HnswPageGetOpaque(page)->flags & HNSW_META_ITEM_REFS) != 0) != st->item_refs ||
		(st->item_refs && (meta->item_size != sizeof(HnswItemRef) ||
						   HnswMetaItems(meta)->item_max != st->item_max)) ||
		meta->dim != (uint32) st->dim || meta->m < HNSW_MIN_M || meta->m > HNSW_MAX_M ||
		meta->nodes_per_page < 1 ||
		meta->node_size != HnswNodeSize(meta->item_size, meta->m, st->filter_size) ||
		((HnswPageGetOpaque(page)->flags & HNSW_META_FILTERS) != 0) != (st->nfilters > 0) ||
		meta->nodes_per_page != HnswNodesPerPage(meta->node_size) ||
		meta->nruns > HNSW_MAX_RUNS ||
		((HnswPageGetOpaque(page)->flags & HNSW_META_REUSE) &&
		 (HnswMetaReuse(meta)->nupper > HNSW_REUSE_UPPER ||
		  HnswMetaReuse(meta)->nitem > HNSW_REUSE_ITEM)))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" metapage does not match its definition",
						RelationGetRelationName(index)),
				 errhint("REINDEX the index.")));
	/* node id -> block must land past the metapage, and the search is binary */
	for (uint32 r = 0; r < meta->nruns; r++)
	{
		const HnswRun *run = &meta->runs[r];

		if (run->start == HNSW_METAPAGE_BLKNO || run->npages == 0 ||
			(uint64) run->start + run->npages > MaxBlockNumber ||
			(r > 0 && run->first_id <= meta->runs[r - 1].first_id))
			runs_ok = false;
	}
	if (!runs_ok || meta->node_count > meta->node_capacity ||
		meta->entry_level < -1 || meta->entry_level > HNSW_MAX_LEVEL ||
		(meta->entry_id == HNSW_NO_NODE) != (meta->entry_level < 0) ||
		(meta->entry_id != HNSW_NO_NODE && meta->entry_id >= meta->node_count))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" has a damaged metapage", RelationGetRelationName(index)),
				 errhint("REINDEX the index.")));
}

/* Take a snapshot of the metapage (share lock, released on return). */
void
HnswLoadMeta(HnswState *st)
{
	Buffer		buf = HnswReadBuffer(st->index, HNSW_METAPAGE_BLKNO);
	Page		page;
	HnswMetaPage meta;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	checkMeta(st, page);
	meta = HnswPageGetMeta(page);

	/*
	 * The graph's geometry is what the build wrote, whatever ALTER INDEX
	 * SET (m = ...) did to the options since.
	 */
	st->m = meta->m;
	st->ef_construction = meta->ef_construction;
	/* and whether it holds codes, whatever ALTER INDEX SET (bits = ...) did */
	if (meta->version == HNSW_FORMAT_CODES)
	{
		if (st->bits != HnswMetaCodes(meta)->bits ||
			st->rerank_bits != HnswMetaCodes(meta)->rerank_bits)
			HnswSetCodesGeometry(st, HnswMetaCodes(meta)->bits, HnswMetaCodes(meta)->rerank_bits);
		st->codes_blk = HnswMetaCodes(meta)->codes_blk;
	}
	else if (st->bits != 0)
		HnswSetFloatGeometry(st);
	st->item_size = meta->item_size;
	if (st->bits == 0)
		st->walk_size = meta->item_size;
	if (!st->item_refs && st->bits == 0)
		st->item_max = meta->item_size;
	st->node_size = meta->node_size;
	st->nodes_per_page = meta->nodes_per_page;
	if (st->nfilters > 0)
		st->tagdir_blk = HnswMetaFilter(meta)->tagdir_blk;
	HnswCopySnapshot(st, meta);
	UnlockReleaseBuffer(buf);
	/* in the context of the operation's first snapshot: see HnswCodesGet */
	if (st->bits != 0 && st->codes == NULL)
		(void) HnswCodesGet(st);
}

static const char *
pageTypeName(uint16 type)
{
	switch (type)
	{
		case HNSW_PAGE_META:
			return "metapage";
		case HNSW_PAGE_NODE:
			return "node page";
		case HNSW_PAGE_UPPER:
			return "upper page";
		case HNSW_PAGE_CODES:
			return "codes page";
		case HNSW_PAGE_TAGS:
			return "tag page";
		case HNSW_PAGE_TAGDIR:
			return "tag directory page";
		default:
			return "item page";
	}
}

/* The error of HnswCheckPage, out of line. */
void
HnswBadPage(Relation index, BlockNumber blk, uint16 type)
{
	if (blk == HNSW_METAPAGE_BLKNO)
		VecIndexNotValid(index, "hnsw", NULL);
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("index \"%s\" block %u is not a valid hnsw %s",
					RelationGetRelationName(index), blk, pageTypeName(type)),
			 errhint("REINDEX the index.")));
}

/*
 * The upper record of node id at (blk, off), on page (locked): checked to
 * be an upper page, the line pointer to lie within it, and the record to
 * be id's and as long as its level count says.  Errors out otherwise.
 */
HnswUpperData *
HnswUpperRecord(HnswState *st, Page page, BlockNumber blk, OffsetNumber off, uint32 id)
{
	ItemId		iid;
	HnswUpperData *rec;

	HnswCheckPage(st->index, page, blk, HNSW_PAGE_UPPER);
	if (off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page))
		rec = NULL;
	else
	{
		iid = PageGetItemId(page, off);
		rec = (HnswUpperData *) PageGetItem(page, iid);
		if (!ItemIdIsNormal(iid) || ItemIdGetOffset(iid) < ((PageHeader) page)->pd_upper ||
			ItemIdGetOffset(iid) + ItemIdGetLength(iid) > ((PageHeader) page)->pd_special ||
			ItemIdGetLength(iid) < sizeof(HnswUpperData) ||
			rec->node_id != id || rec->nlevels > HNSW_MAX_LEVEL ||
			ItemIdGetLength(iid) < HnswUpperSize(st->m, rec->nlevels))
			rec = NULL;
	}
	if (rec == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" node %u has an invalid upper record",
						RelationGetRelationName(st->index), id),
				 errhint("REINDEX the index.")));
	return rec;
}

/*
 * Copy the metapage's changing part (entry point, counts, run table) into
 * st; the caller holds the metapage locked.
 */
void
HnswCopySnapshot(HnswState *st, HnswMetaPage meta)
{
	st->entry_id = meta->entry_id;
	st->entry_level = meta->entry_level;
	st->node_count = meta->node_count;
	st->node_capacity = meta->node_capacity;
	st->nruns = meta->nruns;
	memcpy(st->runs, meta->runs, sizeof(HnswRun) * meta->nruns);
}

/*
 * Write the state's geometry and snapshot into a metapage (and the flag and
 * item geometry of out-of-line items; the caller sets upper_blk and
 * item_blk, then pd_lower through HnswSetMetaLower).
 */
void
HnswFillMeta(HnswState *st, Page page)
{
	HnswMetaPage meta = HnswPageGetMeta(page);

	if (st->item_refs)
	{
		HnswPageGetOpaque(page)->flags |= HNSW_META_ITEM_REFS;
		HnswMetaItems(meta)->item_max = st->item_max;
	}
	if (st->nfilters > 0)
	{
		HnswPageGetOpaque(page)->flags |= HNSW_META_FILTERS;
		HnswMetaFilter(meta)->tagdir_blk = st->tagdir_blk;
	}
	meta->magic = HNSW_MAGIC;
	meta->version = HNSW_FORMAT_VERSION;
	if (st->bits > 0)
	{
		meta->version = HNSW_FORMAT_CODES;
		HnswMetaCodes(meta)->bits = st->bits;
		HnswMetaCodes(meta)->rerank_bits = st->rerank_bits;
		HnswMetaCodes(meta)->codes_blk = st->codes_blk;
	}
	meta->dim = st->dim;
	meta->m = st->m;
	meta->ef_construction = st->ef_construction;
	meta->metric = st->metric;
	meta->nodes_per_page = st->nodes_per_page;
	meta->node_size = st->node_size;
	meta->item_size = st->item_size;
	meta->entry_id = st->entry_id;
	meta->entry_level = st->entry_level;
	meta->node_count = st->node_count;
	meta->node_capacity = st->node_capacity;
	meta->nruns = st->nruns;
	memcpy(meta->runs, st->runs, sizeof(HnswRun) * st->nruns);
}

/*
 * pd_lower of a metapage: past the run table in use, or, with out-of-line
 * items, past HnswMetaItemsData, or, once VACUUM has listed pages to reuse,
 * past HnswMetaReuseData.  Generic WAL and full-page images skip
 * everything between pd_lower and pd_upper.
 */
void
HnswSetMetaLower(Page page)
{
	HnswMetaPage meta = HnswPageGetMeta(page);
	char	   *end;

	if (HnswPageGetOpaque(page)->flags & HNSW_META_FILTERS)
		end = (char *) (HnswMetaFilter(meta) + 1);
	else if (meta->version == HNSW_FORMAT_CODES)
		end = (char *) (HnswMetaCodes(meta) + 1);
	else if (HnswPageGetOpaque(page)->flags & HNSW_META_REUSE)
		end = (char *) (HnswMetaReuse(meta) + 1);
	else if (HnswPageGetOpaque(page)->flags & HNSW_META_ITEM_REFS)
		end = (char *) (HnswMetaItems(meta) + 1);
	else
		end = (char *) &meta->runs[meta->nruns];
	((PageHeader) page)->pd_lower = end - (char *) page;
}

/*
 * The item of node id on item page page, where ref says it is: NULL when
 * the reference does not lead to an item tuple of that node and length.
 */
const char *
HnswItemTupleData(const HnswState *st, Page page, uint32 id, const HnswItemRef *ref)
{
	ItemId		iid;
	const char *tup;

	if (!HnswPageIs(page, HNSW_PAGE_ITEM) ||
		ref->off < FirstOffsetNumber || ref->off > PageGetMaxOffsetNumber(page))
		return NULL;
	iid = PageGetItemId(page, ref->off);
	if (!ItemIdIsNormal(iid) || ItemIdGetLength(iid) != HnswItemTupleSize(ref->len) ||
		ref->len > st->item_max || ItemIdGetOffset(iid) < ((PageHeader) page)->pd_upper ||
		ItemIdGetOffset(iid) + ItemIdGetLength(iid) > ((PageHeader) page)->pd_special)
		return NULL;
	tup = (const char *) PageGetItem(page, iid);
	if (*(const uint32 *) tup != id ||
		st->ops->item_len(tup + HNSW_ITEM_TUPLE_HDR) != ref->len)
		return NULL;
	return tup + HNSW_ITEM_TUPLE_HDR;
}

void
HnswInitPage(Page page, uint16 type)
{
	HnswPageOpaque opaque;

	PageInit(page, BLCKSZ, sizeof(HnswPageOpaqueData));
	opaque = HnswPageGetOpaque(page);
	opaque->type = type;
	opaque->flags = 0;
	opaque->unused = 0;
	opaque->page_id = HNSW_PAGE_ID;
}

/*
 * Node id -> (block, slot), through the state's run table.  A node added by
 * another backend after our metapage snapshot is past the known runs: take
 * a fresh snapshot once before calling the id corrupt.
 */
void
HnswLocateNode(HnswState *st, uint32 id, BlockNumber *blk, int *slot)
{
	if (id >= st->node_count)
		HnswLoadMeta(st);
	if (!HnswFindNode(st, id, blk, slot))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" refers to node %u, which does not exist",
						RelationGetRelationName(st->index), id)));
}

bool
HnswFindNode(const HnswState *st, uint32 id, BlockNumber *blk, int *slot)
{
	int			lo = 0;
	int			hi = st->nruns - 1;

	/* the last run with first_id <= id */
	while (lo < hi)
	{
		int			mid = (lo + hi + 1) / 2;

		if (st->runs[mid].first_id <= id)
			lo = mid;
		else
			hi = mid - 1;
	}
	if (st->nruns == 0 || id >= st->node_count || id < st->runs[lo].first_id ||
		(id - st->runs[lo].first_id) / st->nodes_per_page >= st->runs[lo].npages)
		return false;
	*blk = st->runs[lo].start + (id - st->runs[lo].first_id) / st->nodes_per_page;
	*slot = (id - st->runs[lo].first_id) % st->nodes_per_page;
	return true;
}

/*
 * Block -> the id in slot 0 of that node page, through the run table; false
 * when blk is not a node page of a run.
 */
bool
HnswPageFirstId(const HnswState *st, BlockNumber blk, uint32 *first)
{
	for (int r = 0; r < st->nruns; r++)
	{
		const HnswRun *run = &st->runs[r];

		if (blk >= run->start && blk - run->start < run->npages)
		{
			*first = run->first_id + (blk - run->start) * st->nodes_per_page;
			return true;
		}
	}
	return false;
}

/*
 * Step to the next node page: its block, the id in its first slot, and how
 * many of its slots hold nodes (0 for pages past node_count).
 */
bool
HnswNextNodePage(const HnswState *st, HnswPageIter *it, BlockNumber *blk,
				 uint32 *first, uint32 *nslots)
{
	while (it->run < st->nruns && it->page >= st->runs[it->run].npages)
	{
		it->run++;
		it->page = 0;
	}
	if (it->run >= st->nruns)
		return false;
	*blk = st->runs[it->run].start + it->page;
	*first = st->runs[it->run].first_id + it->page * st->nodes_per_page;
	*nslots = *first >= st->node_count ? 0 :
		Min((uint32) st->nodes_per_page, st->node_count - *first);
	it->page++;
	return true;
}
