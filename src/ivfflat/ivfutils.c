/*
 * ivfutils.c
 *	  Geometry, pages, the directory and the centroid cache.
 */
#include "compat.h"

#include <float.h>

#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "ivfflat.h"

Size
IvfRecSize(Size item_size)
{
	return MAXALIGN(sizeof(IvfRecData) + item_size);
}

int
IvfRecsPerPage(Size rec_size)
{
	return (int) ((BLCKSZ - IVF_REC_START - MAXALIGN(sizeof(IvfPageOpaqueData))) / rec_size);
}

Size
IvfEntrySize(Size item_size)
{
	return MAXALIGN(sizeof(IvfDirEntryData) + item_size);
}

int
IvfEntriesPerPage(Size entry_size)
{
	return IvfRecsPerPage(entry_size);
}

void
IvfInitPage(Page page, uint16 type)
{
	IvfPageOpaque opaque;

	PageInit(page, BLCKSZ, sizeof(IvfPageOpaqueData));
	opaque = IvfPageGetOpaque(page);
	opaque->prev = InvalidBlockNumber;
	opaque->type = type;
	opaque->flags = 0;
	opaque->unused = 0;
	opaque->page_id = IVF_PAGE_ID;
	/* records start at a fixed offset, not after line pointers */
	((PageHeader) page)->pd_lower = IVF_REC_START;
}

/*
 * Rows go to the list whose centroid is nearest in this metric.  Inner
 * product would let a few long centroids take every row, so lists are
 * formed by L2 (k-means' own metric), and probed by inner product: the
 * mean inner product of a query with a list's rows is its inner product
 * with the list's centroid.
 */
VecMetric
IvfListMetric(VecMetric metric)
{
	return metric == VEC_METRIC_IP ? VEC_METRIC_L2 : metric;
}

void
IvfInitState(IvfState *st, Relation index)
{
	memset(st, 0, sizeof(IvfState));
	st->index = index;
	st->ops = VecIndexTypeOps(index, &st->metric);
	/* lists hold fixed-size records, and k-means needs dense floats */
	if (st->ops->item_len != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("type not supported for ivfflat index")));
	st->list_metric = IvfListMetric(st->metric);
	st->dist = st->ops->distance(st->metric);
	st->batch = st->ops->batch_distance(st->metric);
	st->list_batch = st->ops->batch_distance(st->list_metric);
	st->dim = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;
	if (st->dim > 0)
		st->item_size = MAXALIGN(st->ops->item_size(st->dim));
	st->cache = NULL;
}

int
IvfPageCount(Page page, Size rec_size)
{
	int			lower = ((PageHeader) page)->pd_lower;

	if (lower < IVF_REC_START)
		return 0;
	return (lower - IVF_REC_START) / rec_size;
}

/* Add a record to a list page; false when the page is full. */
bool
IvfPageAppend(Page page, Size rec_size, int recs_per_page, ItemPointer tid,
			  const void *item, Size item_size)
{
	int			n = IvfPageCount(page, rec_size);
	IvfRec		rec;

	if (n >= recs_per_page)
		return false;
	rec = IvfPageRec(page, rec_size, n);
	rec->heaptid = *tid;
	rec->flags = 0;
	memcpy(IvfRecItem(rec), item, item_size);
	((PageHeader) page)->pd_lower = IVF_REC_START + rec_size * (n + 1);
	return true;
}

void
IvfDirLocate(const IvfCache *c, uint32 list, BlockNumber *blk, Size *off)
{
	*blk = c->dir_start + list / c->entries_per_page;
	*off = IVF_REC_START + c->entry_size * (list % c->entries_per_page);
}

static void
corrupt(Relation index, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("index \"%s\" %s", RelationGetRelationName(index), what),
			 errhint("REINDEX the index.")));
}

/*
 * Read the metapage and the centroids into the relcache entry, once.
 */
void
IvfLoadCache(IvfState *st)
{
	Relation	index = st->index;
	Buffer		buf;
	Page		page;
	IvfMetaPage meta;
	IvfCache   *c;
	MemoryContext old;

	/* a relcache flush frees rd_amcache; check the file too, to be safe */
	if (index->rd_amcache != NULL &&
		((IvfCache *) index->rd_amcache)->relfilenode == IvfRelFileNumber(index))
	{
		st->cache = (IvfCache *) index->rd_amcache;
		return;
	}

	buf = ReadBuffer(index, IVF_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	meta = IvfPageGetMeta(page);
	if (!IvfPageIs(page, IVF_PAGE_META) || meta->magic != IVF_MAGIC)
		VecIndexNotValid(index, "ivfflat", NULL);
	if (meta->version != IVF_FORMAT_VERSION)
		VecIndexNotValid(index, "ivfflat", psprintf("It has ivfflat format version %u, but this library reads version %d.",
								   meta->version, IVF_FORMAT_VERSION));
	if (meta->metric != st->metric || meta->dir_start != IVF_METAPAGE_BLKNO + 1 ||
		meta->dim != (uint32) st->dim || meta->item_size != st->item_size ||
		meta->rec_size != IvfRecSize(meta->item_size) ||
		meta->recs_per_page != (uint32) IvfRecsPerPage(meta->rec_size) ||
		meta->entry_size != IvfEntrySize(meta->item_size) ||
		meta->entries_per_page != (uint32) IvfEntriesPerPage(meta->entry_size) ||
		meta->nlists < 1 || meta->nlists > IVF_MAX_LISTS || meta->recs_per_page < 1 ||
		meta->dir_pages != (meta->nlists + meta->entries_per_page - 1) / meta->entries_per_page ||
		RelationGetNumberOfBlocks(index) < meta->dir_start + meta->dir_pages + meta->nlists)
		corrupt(index, "metapage does not match its definition");

	/*
	 * One chunk: the relcache frees rd_amcache with a single pfree.
	 */
	old = MemoryContextSwitchTo(index->rd_indexcxt);
	c = palloc_extended(MAXALIGN(sizeof(IvfCache)) + MAXALIGN(sizeof(void *) * meta->nlists) +
						MAXALIGN(sizeof(float) * meta->nlists) +
						(Size) meta->item_size * meta->nlists, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	c->relfilenode = IvfRelFileNumber(index);
	c->nlists = meta->nlists;
	c->dim = meta->dim;
	c->item_size = meta->item_size;
	c->rec_size = meta->rec_size;
	c->recs_per_page = meta->recs_per_page;
	c->entry_size = meta->entry_size;
	c->entries_per_page = meta->entries_per_page;
	c->dir_start = meta->dir_start;
	c->centroid_ptrs = (const void **) ((char *) c + MAXALIGN(sizeof(IvfCache)));
	c->centroid_norms = (float *) ((char *) c->centroid_ptrs + MAXALIGN(sizeof(void *) * c->nlists));
	c->centroids = (char *) c->centroid_norms + MAXALIGN(sizeof(float) * c->nlists);
	MemoryContextSwitchTo(old);
	UnlockReleaseBuffer(buf);

	for (uint32 i = 0; i < c->nlists; i++)
	{
		BlockNumber blk;
		Size		off;

		IvfDirLocate(c, i, &blk, &off);
		if (i == 0 || off == IVF_REC_START)
		{
			if (i > 0)
				UnlockReleaseBuffer(buf);
			buf = ReadBuffer(index, blk);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			page = BufferGetPage(buf);
			if (!IvfPageIs(page, IVF_PAGE_DIR) ||
				((PageHeader) page)->pd_lower < off + c->entry_size * Min(c->entries_per_page, c->nlists - i))
				corrupt(index, "has a bad directory page");
		}
		memcpy(c->centroids + c->item_size * i,
			   IvfDirEntryCentroid((char *) page + off), c->item_size);
		c->centroid_ptrs[i] = c->centroids + c->item_size * i;
	}
	UnlockReleaseBuffer(buf);
	IvfCentroidNorms(st, c);

	if (index->rd_amcache != NULL)
		pfree(index->rd_amcache);
	index->rd_amcache = c;
	st->cache = c;
}

/* Fill c->centroid_norms (|c|^2), or leave them unused for a type without rows_dot. */
void
IvfCentroidNorms(IvfState *st, IvfCache *c)
{
	if (st->ops->rows_dot == NULL || st->ops->norm_sq == NULL)
		return;
	for (uint32 i = 0; i < c->nlists; i++)
		c->centroid_norms[i] = st->ops->norm_sq(c->centroid_ptrs[i], c->dim);
}

/*
 * Each list's score for an item (in the list metric), into dists (nlists
 * floats).  With the type's rows_dot, the scores are |c|^2 - 2 q.c for L2
 * and -q.c for cosine (same order as the distances, at half the work);
 * else the list metric's distances.  Build, insert and scan all rank lists
 * through this one function, so a row and a query equal to it see the very
 * same scores, to the last bit.
 */
void
IvfListScores(IvfState *st, const void *item, float *dists)
{
	IvfCache   *c = st->cache;

	if (st->ops->rows_dot != NULL &&
		(st->list_metric == VEC_METRIC_L2 || st->list_metric == VEC_METRIC_COSINE))
	{
		st->ops->rows_dot(item, c->centroids, c->item_size, c->nlists, c->dim, dists);
		if (st->list_metric == VEC_METRIC_L2)
			for (uint32 i = 0; i < c->nlists; i++)
				dists[i] = c->centroid_norms[i] - 2 * dists[i];
		else
			for (uint32 i = 0; i < c->nlists; i++)
				dists[i] = -dists[i];
	}
	else
		st->list_batch(item, c->centroid_ptrs, c->nlists, c->dim, dists);
}

/*
 * The list a row goes to: the least score, and of equal scores the lowest
 * list number (the scan breaks ties the same way).  dists: nlists floats of
 * scratch space.
 */
uint32
IvfNearestList(IvfState *st, const void *item, float *dists)
{
	IvfCache   *c = st->cache;
	uint32		best = 0;

	IvfListScores(st, item, dists);
	for (uint32 i = 1; i < c->nlists; i++)
		if (dists[i] < dists[best])
			best = i;
	return best;
}

/* The newest page of a list, from its directory entry (share lock). */
BlockNumber
IvfReadTail(IvfState *st, uint32 list, BlockNumber *room)
{
	BlockNumber blk;
	Size		off;
	Buffer		buf;
	IvfDirEntryData *e;
	BlockNumber tail;

	IvfDirLocate(st->cache, list, &blk, &off);
	buf = ReadBuffer(st->index, blk);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	e = (IvfDirEntryData *) ((char *) BufferGetPage(buf) + off);
	tail = e->tail;
	if (room != NULL)
		*room = e->room;
	UnlockReleaseBuffer(buf);
	return tail;
}

/*
 * Point the list's room hint at room (0: none), unless someone changed it
 * from expected meanwhile.  Takes the directory page alone, as every
 * directory change does (no list page is held: see ivfinsert.c).
 */
void
IvfSetRoom(IvfState *st, uint32 list, BlockNumber expected, BlockNumber room)
{
	BlockNumber blk;
	Size		off;
	Buffer		buf;
	IvfDirEntryData *e;

	IvfDirLocate(st->cache, list, &blk, &off);
	buf = ReadBuffer(st->index, blk);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	e = (IvfDirEntryData *) ((char *) BufferGetPage(buf) + off);
	if (e->room == expected && e->room != room)
	{
		GenericXLogState *xlog = VecXLogStart(st->index);

		e = (IvfDirEntryData *) ((char *) GenericXLogRegisterBuffer(xlog, buf, 0) + off);
		e->room = room;
		GenericXLogFinish(xlog);
	}
	UnlockReleaseBuffer(buf);
}

/*
 * A list page about to be read: error out on anything else (a damaged
 * chain pointer), and on a chain longer than the relation (a cycle), so
 * that scans, inserts and VACUUM stop cleanly on a damaged index.  steps
 * counts the pages read so far along this chain.
 */
void
IvfCheckListPage(Relation index, Page page, BlockNumber blk, uint32 steps)
{
	if (!IvfPageIs(page, IVF_PAGE_LIST) || ((PageHeader) page)->pd_lower < IVF_REC_START)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" has a bad list page at block %u",
						RelationGetRelationName(index), blk),
				 errhint("REINDEX the index.")));
	if (steps > 0 && (steps & 1023) == 0 && steps > RelationGetNumberOfBlocks(index))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" has a list that loops", RelationGetRelationName(index)),
				 errhint("REINDEX the index.")));
}

/*
 * A block number read from a page (a list's tail or prev), about to be
 * read: one past the end of the index is damage.  *nblocks caches the
 * relation's size for the caller (0 until first needed); it is refreshed
 * before giving up, as inserts may have extended the index meanwhile.
 */
void
IvfCheckBlock(Relation index, BlockNumber blk, BlockNumber *nblocks)
{
	if (blk < *nblocks)
		return;
	*nblocks = RelationGetNumberOfBlocks(index);
	if (blk >= *nblocks)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" refers to block %u, past its end",
						RelationGetRelationName(index), blk),
				 errhint("REINDEX the index.")));
}
