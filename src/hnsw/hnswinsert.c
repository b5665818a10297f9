/*
 * hnswinsert.c
 *	  aminsert, and the on-disk insert the build falls back to when the
 *	  graph outgrows maintenance_work_mem.
 *
 * An insert (README.md, "Inserting"):
 *	1. allocates the node under the metapage lock and writes its record
 *	   (item, heap TID, level, no links yet), in one WAL record with the
 *	   metapage and the upper page;
 *	2. searches the graph from the entry point, without holding any lock
 *	   across pages, and chooses its neighbours on every level;
 *	3. writes its own neighbour lists, all levels;
 *	4. adds a link back from each neighbour, shrinking full lists with the
 *	   selection heuristic, each a WAL record of its own;
 *	5. becomes the entry point when its level is the highest.
 * Nobody links to the node before step 4, and by then its lists on every
 * level are written, so readers never find it half built.
 */
#include "compat.h"

#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnsw.h"

/* ---------------------------------------------------------------- alloc */

static void tooManyRuns(HnswState *st) pg_attribute_noreturn();

static void
tooManyRuns(HnswState *st)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("index \"%s\" has too many node page runs",
					RelationGetRelationName(st->index)),
			 errhint("REINDEX the index.")));
}

/*
 * Make room for more nodes: add a chunk of node pages at the end of the
 * relation, then publish them in the run table.  The chunk grows with the
 * index, so that the run table stays small.
 *
 * Called without the metapage lock, and it takes that lock only briefly:
 * to read the capacity, and at the end to publish the chunk (README.md,
 * "Extending").  Scans and VACUUM go on while the pages are made; they
 * cannot reach a page before it is published, because ids map to blocks
 * only through the run table, and no id past node_capacity is handed out.
 * Extenders are serialised by a heavyweight lock on the metapage's block
 * number (not a buffer lock), so concurrent inserts that find the index
 * full wait for one chunk instead of each adding their own; when they get
 * the lock, the capacity is there and they return at once.  A crash or an
 * error before the chunk is published leaves initialised node pages that
 * the run table does not know: never read, unused until REINDEX.
 */
static void
extendNodePages(HnswState *st)
{
	Buffer		metabuf;
	HnswMetaPage meta;
	uint32		capacity;
	uint32		max_capacity;
	uint32		chunk;
	BlockNumber *blks;
	GenericXLogState *xlog;
	Page		metapage;

	LockPage(st->index, HNSW_METAPAGE_BLKNO, ExclusiveLock);

	metabuf = ReadBuffer(st->index, HNSW_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	meta = HnswPageGetMeta(BufferGetPage(metabuf));
	if (meta->node_count < meta->node_capacity)
	{
		/* another extender published a chunk while we waited */
		UnlockReleaseBuffer(metabuf);
		UnlockPage(st->index, HNSW_METAPAGE_BLKNO, ExclusiveLock);
		return;
	}
	capacity = meta->node_capacity;
	/* a full run table, which this chunk cannot continue: fail before extending */
	if (meta->nruns >= HNSW_MAX_RUNS &&
		meta->runs[meta->nruns - 1].start + meta->runs[meta->nruns - 1].npages !=
		RelationGetNumberOfBlocks(st->index))
		tooManyRuns(st);
	LockBuffer(metabuf, BUFFER_LOCK_UNLOCK);

	/*
	 * An upper page appended since the last chunk starts a new run, so the
	 * chunks grow with the index (to 16 MB) to keep runs few: HNSW_MAX_RUNS
	 * then lasts for millions of inserted nodes.  The capacity must fit a
	 * uint32 (allocateNode stops at HnswMaxNodes, below it).
	 */
	chunk = Max(1, Min(capacity / st->nodes_per_page / 8, 2048));
	max_capacity = (PG_UINT32_MAX / st->nodes_per_page) * st->nodes_per_page;
	chunk = Min(chunk, (max_capacity - capacity) / st->nodes_per_page);
	if (chunk == 0)
		HnswTooManyNodes(st);

	/* each new page is one WAL record: a full image of the empty page */
	blks = palloc_array(BlockNumber, chunk);
	for (uint32 i = 0; i < chunk; i++)
	{
		Buffer		buf;
		Page		page;

		CHECK_FOR_INTERRUPTS();
		buf = VecIndexNewBuffer(st->index, MAIN_FORKNUM);
		blks[i] = BufferGetBlockNumber(buf);
		xlog = VecXLogStart(st->index);
		page = GenericXLogRegisterBuffer(xlog, buf, GENERIC_XLOG_FULL_IMAGE);
		HnswInitPage(page, HNSW_PAGE_NODE);
		((PageHeader) page)->pd_lower = HNSW_NODE_START + st->node_size * st->nodes_per_page;
		GenericXLogFinish(xlog);
		UnlockReleaseBuffer(buf);
	}
	HnswTestDelay(hnsw_test_extend_delay);

	/*
	 * Publish: one WAL record of the metapage.  A block that continues the
	 * last run extends it; any other starts a new run.
	 */
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = HnswPageGetMeta(BufferGetPage(metabuf));
	{
		uint32		nruns = meta->nruns;
		BlockNumber end = nruns > 0 ? meta->runs[nruns - 1].start + meta->runs[nruns - 1].npages :
			InvalidBlockNumber;

		for (uint32 i = 0; i < chunk; i++)
		{
			if (blks[i] != end)
				nruns++;
			end = blks[i] + 1;
		}
		if (nruns > HNSW_MAX_RUNS)
			tooManyRuns(st);
	}
	Assert(meta->node_capacity == capacity);
	xlog = VecXLogStart(st->index);
	metapage = GenericXLogRegisterBuffer(xlog, metabuf, 0);
	meta = HnswPageGetMeta(metapage);
	for (uint32 i = 0; i < chunk; i++)
	{
		HnswRun    *last = meta->nruns > 0 ? &meta->runs[meta->nruns - 1] : NULL;

		if (last != NULL && last->start + last->npages == blks[i])
			last->npages++;
		else
		{
			last = &meta->runs[meta->nruns++];
			last->first_id = meta->node_capacity;
			last->start = blks[i];
			last->npages = 1;
		}
		meta->node_capacity += st->nodes_per_page;
	}
	HnswSetMetaLower(metapage);
	GenericXLogFinish(xlog);
	UnlockReleaseBuffer(metabuf);
	UnlockPage(st->index, HNSW_METAPAGE_BLKNO, ExclusiveLock);
	pfree(blks);
}

/*
 * Page blk (an upper or item page new records go to), exclusively locked,
 * if it has room for a record of size bytes; else InvalidBuffer.
 */
static Buffer
lockIfRoom(HnswState *st, BlockNumber blk, Size size)
{
	Buffer		buf;

	if (blk == InvalidBlockNumber)
		return InvalidBuffer;
	buf = ReadBuffer(st->index, blk);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	/* PageAddItem PANICs on a page whose header is not sane */
	if (!HnswPageIs(BufferGetPage(buf), HNSW_PAGE_UPPER) &&
		!HnswPageIs(BufferGetPage(buf), HNSW_PAGE_ITEM))
		HnswBadPage(st->index, blk, HNSW_PAGE_UPPER);
	if (PageGetFreeSpace(BufferGetPage(buf)) < MAXALIGN(size))
	{
		UnlockReleaseBuffer(buf);
		return InvalidBuffer;
	}
	return buf;
}

/*
 * Add a record of size bytes to buf's page within xlog; a new page is
 * initialised as the given type and logged as a full image.  Returns the
 * record's offset.
 */
static OffsetNumber
addRecord(GenericXLogState *xlog, Buffer buf, uint16 type, const void *rec, Size size,
		  const char *what)
{
	bool		fresh = PageIsNew(BufferGetPage(buf));
	Page		page = GenericXLogRegisterBuffer(xlog, buf, fresh ? GENERIC_XLOG_FULL_IMAGE : 0);
	OffsetNumber off;

	if (fresh)
		HnswInitPage(page, type);
	off = PageAddItem(page, (Item) rec, size, InvalidOffsetNumber, false, false);
	if (off == InvalidOffsetNumber)
		elog(ERROR, "could not add hnsw %s of %zu bytes", what, size);
	return off;
}

/*
 * Allocate a node for item and write its record with empty lists.  Returns
 * its id; st's metapage snapshot is refreshed.  *was_empty is set when the
 * index had no entry point, in which case the node became it.
 *
 * An out-of-line item goes as a tuple onto the current item page, or a new
 * one, in the same WAL record as the node that points to it (metapage,
 * node page, upper page, item page: at most MAX_GENERIC_XLOG_PAGES), so no
 * node is ever without its item.  Lock order: metapage, current upper
 * page, current item page, node page, new upper page, new item page.
 */
static uint32
allocateNode(HnswState *st, const void *item, ItemPointer tid, int level, bool *was_empty)
{
	Buffer		metabuf = ReadBuffer(st->index, HNSW_METAPAGE_BLKNO);
	Buffer		nodebuf;
	Buffer		upperbuf = InvalidBuffer;
	HnswMetaPage meta;
	GenericXLogState *xlog;
	Page		metapage;
	Page		page;
	HnswNode	node;
	uint32		id;
	BlockNumber blk;
	int			slot;
	OffsetNumber upper_off = InvalidOffsetNumber;
	Size		upper_size = level > 0 ? HnswUpperSize(st->m, level) : 0;
	Buffer		itembuf = InvalidBuffer;
	Size		item_len = st->item_refs ? st->ops->item_len(item) : 0;
	Size		tuple_size = HnswItemTupleSize(item_len);
	HnswItemRef ref;

	/*
	 * Take the next id, once there is room for it.  The metapage lock is
	 * not held while pages are added (extendNodePages), so that scans need
	 * not wait for a whole chunk of extensions and WAL records.
	 */
	for (;;)
	{
		LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
		meta = HnswPageGetMeta(BufferGetPage(metabuf));
		if (meta->node_count >= HnswMaxNodes(st))
			HnswTooManyNodes(st);
		if (meta->node_count < meta->node_capacity)
			break;
		LockBuffer(metabuf, BUFFER_LOCK_UNLOCK);
		extendNodePages(st);
	}
	/* refresh the snapshot: locating our node needs the current runs */
	HnswCopySnapshot(st, meta);
	id = meta->node_count;
	st->node_count = id + 1;
	if (!HnswFindNode(st, id, &blk, &slot))
		elog(ERROR, "hnsw node %u has no page after extension", id);

	/*
	 * An upper record goes to the current upper page, an out-of-line item
	 * to the current item page; to new ones (below) when they are full.
	 */
	if (level > 0)
		upperbuf = lockIfRoom(st, meta->upper_blk, upper_size);
	if (st->item_refs)
		itembuf = lockIfRoom(st, HnswMetaItems(meta)->item_blk, tuple_size);

	nodebuf = ReadBuffer(st->index, blk);
	LockBuffer(nodebuf, BUFFER_LOCK_EXCLUSIVE);
	HnswCheckPage(st->index, BufferGetPage(nodebuf), blk, HNSW_PAGE_NODE);
	if (level > 0 && upperbuf == InvalidBuffer)
		upperbuf = VecIndexNewBuffer(st->index, MAIN_FORKNUM);
	if (st->item_refs && itembuf == InvalidBuffer)
		itembuf = VecIndexNewBuffer(st->index, MAIN_FORKNUM);

	xlog = VecXLogStart(st->index);
	metapage = GenericXLogRegisterBuffer(xlog, metabuf, 0);
	meta = HnswPageGetMeta(metapage);
	page = GenericXLogRegisterBuffer(xlog, nodebuf, 0);
	if (level > 0)
	{
		HnswUpperData *rec = palloc0(upper_size);

		rec->node_id = id;
		rec->nlevels = level;
		upper_off = addRecord(xlog, upperbuf, HNSW_PAGE_UPPER, rec, upper_size, "upper record");
		meta->upper_blk = BufferGetBlockNumber(upperbuf);
		pfree(rec);
	}
	if (st->item_refs)
	{
		char	   *tup = palloc(tuple_size);

		*(uint32 *) tup = id;
		memcpy(tup + HNSW_ITEM_TUPLE_HDR, item, item_len);
		ref.blk = BufferGetBlockNumber(itembuf);
		ref.off = addRecord(xlog, itembuf, HNSW_PAGE_ITEM, tup, tuple_size, "item");
		ref.len = item_len;
		HnswMetaItems(meta)->item_blk = ref.blk;
		pfree(tup);
	}

	node = HnswPageNode(page, st, slot);
	memset(node, 0, st->node_size);
	node->dup_next = HNSW_NO_NODE;
	node->heaptid = *tid;
	node->level = level;
	node->upper_blk = level > 0 ? BufferGetBlockNumber(upperbuf) : InvalidBlockNumber;
	node->upper_off = upper_off;
	if (st->item_refs)
		memcpy(HnswNodeItem(node), &ref, sizeof(HnswItemRef));
	else
		memcpy(HnswNodeItem(node), item, st->item_size);

	meta->node_count = id + 1;
	*was_empty = meta->entry_id == HNSW_NO_NODE;
	if (*was_empty)
	{
		meta->entry_id = id;
		meta->entry_level = level;
	}
	st->entry_id = meta->entry_id;
	st->entry_level = meta->entry_level;
	GenericXLogFinish(xlog);

	if (upperbuf != InvalidBuffer)
		UnlockReleaseBuffer(upperbuf);
	if (itembuf != InvalidBuffer)
		UnlockReleaseBuffer(itembuf);
	UnlockReleaseBuffer(nodebuf);
	UnlockReleaseBuffer(metabuf);
	return id;
}

/* ---------------------------------------------------------------- links */

/*
 * Where id's list on level lives: the node's page and slot on level 0,
 * the upper record's page and line pointer above (read under a share lock
 * on the node page, released again: a node's upper record never moves).
 */
typedef struct ListLoc
{
	BlockNumber blk;
	int			slot;			/* level 0: node slot; else the upper line pointer */
} ListLoc;

static ListLoc
locateList(HnswState *st, uint32 id, int level)
{
	ListLoc		loc;
	Buffer		buf;
	HnswNode	node;

	HnswLocateNode(st, id, &loc.blk, &loc.slot);
	if (level == 0)
		return loc;
	buf = HnswReadBuffer(st->index, loc.blk);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	HnswCheckPage(st->index, BufferGetPage(buf), loc.blk, HNSW_PAGE_NODE);
	node = HnswPageNode(BufferGetPage(buf), st, loc.slot);
	if (node->level < level)
		elog(ERROR, "hnsw node %u has no level %d", id, level);
	loc.blk = node->upper_blk;
	loc.slot = node->upper_off;
	UnlockReleaseBuffer(buf);
	return loc;
}

/* The list and its count in page, which holds id's list on level at loc. */
static void
listInPage(HnswState *st, Page page, uint32 id, int level, ListLoc loc,
		   uint32 **links, uint16 **count)
{
	if (level == 0)
	{
		HnswNode	node = HnswPageNode(page, st, loc.slot);

		*links = HnswNodeLinks(node, st->item_size);
		*count = &node->nlinks;
	}
	else
	{
		HnswUpperData *rec = HnswUpperRecord(st, page, loc.blk, loc.slot, id);
		HnswUpperLevel *lv;

		if (rec->nlevels < level)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("index \"%s\" node %u has an invalid upper record",
							RelationGetRelationName(st->index), id)));
		lv = HnswUpperGetLevel(rec, st->m, level);
		*links = lv->links;
		*count = &lv->count;
	}
}

/*
 * Replace the lists of nlists (one or two) nodes on level, each only if it
 * still is what the caller read: the new lists were computed without
 * holding the pages.  Both change in one WAL record, or neither: a member
 * one list pushes out, the other takes in, and no crash or concurrent
 * reader can see it in neither.  Two pages are locked in block order (see
 * README.md, "Locking").  Returns whether the lists were replaced.
 */
static bool
replaceLists(HnswState *st, int level, int nlists, const uint32 *ids,
			 const uint32 *const *expected, const int *nexpected,
			 const uint32 *const *links, const int *n)
{
	ListLoc		loc[2];
	Buffer		buf[2] = {InvalidBuffer, InvalidBuffer};
	Page		page[2] = {NULL, NULL};
	int			order[2] = {0, 1};
	GenericXLogState *xlog;
	bool		same = true;
	uint16		type = level == 0 ? HNSW_PAGE_NODE : HNSW_PAGE_UPPER;

	Assert(nlists == 1 || nlists == 2);
	for (int i = 0; i < nlists; i++)
		loc[i] = locateList(st, ids[i], level);
	if (nlists == 2 && loc[1].blk < loc[0].blk)
	{
		order[0] = 1;
		order[1] = 0;
	}
	for (int k = 0; k < nlists; k++)
	{
		int			i = order[k];

		if (k == 1 && loc[i].blk == loc[order[0]].blk)
			continue;			/* the same page: locked already */
		buf[i] = HnswReadBuffer(st->index, loc[i].blk);
		LockBuffer(buf[i], BUFFER_LOCK_EXCLUSIVE);
		HnswCheckPage(st->index, BufferGetPage(buf[i]), loc[i].blk, type);
	}
	xlog = VecXLogStart(st->index);
	for (int i = 0; i < nlists; i++)
	{
		if (BufferIsValid(buf[i]))
			page[i] = GenericXLogRegisterBuffer(xlog, buf[i], 0);
	}
	for (int i = 0; i < nlists; i++)
	{
		uint32	   *dst;
		uint16	   *count;

		if (!BufferIsValid(buf[i]))
			page[i] = page[1 - i];
		listInPage(st, page[i], ids[i], level, loc[i], &dst, &count);
		same &= *count == nexpected[i] &&
			memcmp(dst, expected[i], sizeof(uint32) * nexpected[i]) == 0;
	}
	if (same)
	{
		for (int i = 0; i < nlists; i++)
		{
			uint32	   *dst;
			uint16	   *count;

			listInPage(st, page[i], ids[i], level, loc[i], &dst, &count);
			memcpy(dst, links[i], sizeof(uint32) * n[i]);
			*count = n[i];
		}
		GenericXLogFinish(xlog);
	}
	else
		GenericXLogAbort(xlog);
	for (int i = 0; i < nlists; i++)
		if (BufferIsValid(buf[i]))
			UnlockReleaseBuffer(buf[i]);
	return same;
}

/* Replace id's list on level with links[0..n). */
static void
writeList(HnswState *st, uint32 id, int level, const uint32 *links, int n)
{
	ListLoc		loc = locateList(st, id, level);
	Buffer		buf = HnswReadBuffer(st->index, loc.blk);
	GenericXLogState *xlog;
	uint32	   *dst;
	uint16	   *count;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	HnswCheckPage(st->index, BufferGetPage(buf), loc.blk,
				  level == 0 ? HNSW_PAGE_NODE : HNSW_PAGE_UPPER);
	xlog = VecXLogStart(st->index);
	listInPage(st, GenericXLogRegisterBuffer(xlog, buf, 0), id, level, loc, &dst, &count);
	memcpy(dst, links, sizeof(uint32) * n);
	*count = n;
	GenericXLogFinish(xlog);
	UnlockReleaseBuffer(buf);
}

/*
 * Replace id's list on level with links[0..n), but only if it still is
 * expected[0..nexpected): the caller computed the new list from that one
 * without holding the page.  Returns whether the list was replaced.
 */
bool
HnswReplaceList(HnswState *st, uint32 id, int level, const uint32 *expected,
				int nexpected, const uint32 *links, int n)
{
	return replaceLists(st, level, 1, &id, &expected, &nexpected, &links, &n);
}

/*
 * Room for a list's items and its base's, for HnswAddBackLink: kept from
 * call to call (an insert makes up to 2m + m calls, and the items of a
 * 2,000-dimension list with m = 100 take 1.6 MB), grown when an index
 * needs more.  HnswAddBackLink does not recurse, so one buffer serves.
 */
static char *
backLinkScratch(Size size)
{
	static char *buf = NULL;
	static Size bufsize = 0;

	if (size > bufsize)
	{
		if (buf != NULL)
			pfree(buf);
		buf = MemoryContextAllocHuge(TopMemoryContext, size);
		bufsize = size;
	}
	return buf;
}

/*
 * The list home->id would have on level after taking in member e, pushed
 * out of another list: e goes after the fixed part, in place of the
 * farthest fill member when the list is full.  With force, the last member
 * makes room when nothing else can.  False when there is no room.
 */
static bool
homeTake(const HnswHome *home, int maxlinks, uint32 e, bool force, uint32 *out, int *n)
{
	int			k = 0;
	int			keep = home->n;

	if (HnswHasLink(home->links, home->n, e))
	{
		memcpy(out, home->links, sizeof(uint32) * home->n);
		*n = home->n;
		return true;
	}
	if (home->n >= maxlinks)
	{
		if (home->nfixed >= home->n && !force)
			return false;
		keep = home->n - 1;
	}
	for (int i = 0; i < Min(home->nfixed, keep); i++)
		out[k++] = home->links[i];
	out[k++] = e;
	for (int i = Min(home->nfixed, keep); i < keep; i++)
		out[k++] = home->links[i];
	*n = k;
	return true;
}

/*
 * Add the link base -> id on level.  A full list drops its deleted
 * members and is shrunk with the selection heuristic over its links plus
 * id, filled back up with the nearest pruned ones: unlike the build,
 * which sees lists shrink and refill, a graph grown by inserts needs its
 * lists full to stay well connected (recall on 10k x 64 clustered data, L1,
 * ef_search 100: 0.95-1.0 across runs without, 1.0 with); that needs the
 * items of all of them, read without holding base's page, so the list is
 * re-checked under the lock and the work redone if another backend changed
 * it.
 *
 * A shrink pushes out at most one live member, and that may have been its
 * last way in.  With a home (the node being linked in, which base now
 * reaches), the member moves to the home's list in the same WAL record
 * (replaceLists): no crash, race or reader ever sees it in neither list.
 * When the home has no room for it, the back-link is left out (as if the
 * heuristic had pruned it), unless force.  VACUUM passes no home and
 * relies on its reachability pass.
 */
bool
HnswAddBackLink(HnswState *st, HnswSource *src, uint32 base, uint32 id, int level,
				const void *newitem, bool force, HnswHome *home)
{
	int			maxlinks = HnswMaxLinks(st->m, level);
	uint32		seen[2 * HNSW_MAX_M];
	int			nseen;
	char	   *baseitem = backLinkScratch(st->item_max * (maxlinks + 2));
	char	   *items = baseitem + st->item_max;

	HnswReadItem(st, base, baseitem);
	for (int attempt = 0; attempt < 3; attempt++)
	{
		uint32		kept[2 * HNSW_MAX_M + 1];
		int			nkept;
		HnswCand	cands[2 * HNSW_MAX_M + 1];
		const char *itemptr[2 * HNSW_MAX_M + 1];
		HnswCand	scored[2 * HNSW_MAX_M];
		int			ncand = 0;
		uint32		dropped = HNSW_NO_NODE;

		nseen = src->links(src, base, level, seen);
		if (HnswHasLink(seen, nseen, id))
			return true;

		if (nseen < maxlinks)
		{
			memcpy(kept, seen, sizeof(uint32) * nseen);
			kept[nseen] = id;
			nkept = nseen + 1;
		}
		else
		{
			/* deleted neighbours are dropped first: they are dead weight */
			src->score(src, baseitem, seen, nseen, scored);
			for (int i = 0; i < nseen; i++)
				if (!scored[i].deleted)
					cands[ncand++] = scored[i];
			cands[ncand].id = id;
			cands[ncand].dist = HnswDist(st, baseitem, newitem);
			ncand++;
			HnswSortCands(cands, ncand, base);
			for (int i = 0; i < ncand; i++)
			{
				char	   *dst = items + st->item_max * i;

				if (cands[i].id == id)
					memcpy(dst, newitem, HnswItemLen(st, newitem));
				else
					HnswReadItem(st, cands[i].id, dst);
				itemptr[i] = dst;
			}
			nkept = HnswSelectNeighbours(st, cands, ncand, itemptr, maxlinks, maxlinks, kept);
			nkept = HnswKeepLink(kept, nkept, maxlinks, id, force);
			/* the live member the shrink pushes out, if any (at most one) */
			for (int i = 0; i < ncand && dropped == HNSW_NO_NODE; i++)
				if (cands[i].id != id && !HnswHasLink(kept, nkept, cands[i].id))
					dropped = cands[i].id;

			/*
			 * The newcomer lost to the members it would have joined, and
			 * none is deleted: the list stays as it is, and writing it back
			 * would only cost a WAL record (on sift-128 this saves 5 of the
			 * 39 records of an insert).
			 */
			if (nkept == nseen && !HnswHasLink(kept, nkept, id))
			{
				bool		same = true;

				for (int i = 0; i < nkept && same; i++)
					same = HnswHasLink(seen, nseen, kept[i]);
				if (same)
					return false;
			}
		}

		if (home != NULL && dropped != HNSW_NO_NODE && home->id != base)
		{
			uint32		hl[2 * HNSW_MAX_M];
			int			hn;
			uint32		ids[2] = {base, home->id};
			const uint32 *exp[2] = {seen, home->links};
			int			nexp[2] = {nseen, home->n};
			const uint32 *lists[2] = {kept, hl};
			int			n[2] = {nkept, 0};

			if (!homeTake(home, maxlinks, dropped, force, hl, &hn))
				return false;
			if (hn == home->n && memcmp(hl, home->links, sizeof(uint32) * hn) == 0)
			{
				/* the home links to it already */
				if (HnswReplaceList(st, base, level, seen, nseen, kept, nkept))
					return HnswHasLink(kept, nkept, id);
				continue;
			}
			n[1] = hn;
			if (replaceLists(st, level, 2, ids, exp, nexp, lists, n))
			{
				home->nfixed = Min(home->nfixed + 1, hn);
				memcpy(home->links, hl, sizeof(uint32) * hn);
				home->n = hn;
				return HnswHasLink(kept, nkept, id);
			}

			/*
			 * Either list changed.  If the home's did (another backend
			 * linked to it), take it as it is now, all of it fixed.
			 */
			{
				uint32		cur[2 * HNSW_MAX_M];
				int			ncur = src->links(src, home->id, level, cur);

				if (ncur != home->n || memcmp(cur, home->links, sizeof(uint32) * ncur) != 0)
				{
					memcpy(home->links, cur, sizeof(uint32) * ncur);
					home->n = ncur;
					home->nfixed = ncur;
				}
			}
			continue;
		}
		if (HnswReplaceList(st, base, level, seen, nseen, kept, nkept))
			return HnswHasLink(kept, nkept, id);
	}
	/* XXX: lost the race every time; the link is left out, as if pruned */
	return false;
}

/* ---------------------------------------------------------------- insert */

/*
 * Hang node id, which never entered the graph, into the duplicate chain of
 * head: one WAL record for both nodes.  See README.md, "Duplicates".
 */
static void
chainDuplicate(HnswState *st, uint32 head, uint32 id)
{
	BlockNumber hblk,
				blk;
	int			hslot,
				slot;
	Buffer		hbuf;
	Buffer		buf = InvalidBuffer;
	GenericXLogState *xlog;
	Page		hpage;
	Page		page;
	HnswNode	hnode;
	HnswNode	node;

	HnswLocateNode(st, head, &hblk, &hslot);
	HnswLocateNode(st, id, &blk, &slot);
	/* two node pages: lock in block order, like every multi-page holder */
	if (blk < hblk)
	{
		buf = ReadBuffer(st->index, blk);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	}
	hbuf = ReadBuffer(st->index, hblk);
	LockBuffer(hbuf, BUFFER_LOCK_EXCLUSIVE);
	if (blk > hblk)
	{
		buf = ReadBuffer(st->index, blk);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	}
	HnswCheckPage(st->index, BufferGetPage(hbuf), hblk, HNSW_PAGE_NODE);
	if (blk != hblk)
		HnswCheckPage(st->index, BufferGetPage(buf), blk, HNSW_PAGE_NODE);
	xlog = VecXLogStart(st->index);
	hpage = GenericXLogRegisterBuffer(xlog, hbuf, 0);
	page = blk == hblk ? hpage : GenericXLogRegisterBuffer(xlog, buf, 0);
	hnode = HnswPageNode(hpage, st, hslot);
	node = HnswPageNode(page, st, slot);
	node->flags |= HNSW_NODE_DUP;
	node->dup_next = hnode->dup_next;
	hnode->dup_next = id;
	GenericXLogFinish(xlog);
	UnlockReleaseBuffer(hbuf);
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);
}

/*
 * Insert one prepared item (the form to_item gives) for heap row tid, as
 * a node of the given level.
 * Runs in the caller's memory context, which it may fill.
 */
void
HnswInsertItem(HnswState *st, const void *item, ItemPointer tid, int level)
{
	bool		was_empty;
	int			top;
	uint32	   *sel[HNSW_MAX_LEVEL + 1];
	int			nsel[HNSW_MAX_LEVEL + 1];
	int			nheur[HNSW_MAX_LEVEL + 1];
	uint32		id;
	HnswSource	src;
	HnswVisited visited;
	HnswHeap	cands;
	HnswHeap	results;
	HnswCand	ep;
	uint32		entry;
	int			entry_level;
	HnswCand   *w = palloc_array(HnswCand, HnswEfConstruction(st, 1) + 1);
	const char **witems = palloc_array(const char *, HnswEfConstruction(st, 1) + 1);
	char	   *wdata = palloc(st->item_max * (HnswEfConstruction(st, 1) + 1));

	id = allocateNode(st, item, tid, level, &was_empty);
	if (was_empty)
		return;
	entry = st->entry_id;
	entry_level = st->entry_level;
	top = Min(level, entry_level);

	HnswDiskSourceInit(&src, st);
	HnswVisitedInitHash(&visited, st->ef_construction * 2 * st->m);
	HnswHeapInit(&cands, st->ef_construction * 4, false);
	HnswHeapInit(&results, st->ef_construction + 1, true);

	ep = HnswGreedyDescend(&src, item, entry, entry_level, level);

	/*
	 * Choose the neighbours on every level first and write all of our own
	 * lists before any back-link, so that whoever reaches the node through
	 * a back-link on some level finds its lists on every level below too.
	 */
	HnswHeapPush(&cands, &ep);
	if (!ep.deleted)
		HnswHeapPush(&results, &ep);
	for (int lc = top; lc >= 0; lc--)
	{
		int			nw;

		HnswVisitedReset(&visited);
		HnswVisitedAdd(&visited, id);
		for (int i = 0; i < cands.n; i++)
			HnswVisitedAdd(&visited, cands.items[i].id);
		HnswSearchLayer(&src, item, &cands, &results, HnswEfConstruction(st, lc), lc, &visited, NULL);

		nw = results.n;
		memcpy(w, results.items, sizeof(HnswCand) * nw);
		HnswSortCands(w, nw, id);
		for (int i = 0; i < nw; i++)
		{
			witems[i] = wdata + st->item_max * i;
			HnswReadItem(st, w[i].id, wdata + st->item_max * i);
		}
		/*
		 * An exact duplicate of a live node joins that node's chain instead
		 * of the graph: a crowd of equal vectors would otherwise fill each
		 * other's lists and push one another out until some lost every
		 * incoming link.  Only level-0 nodes, which no level above needs.
		 */
		if (level == 0 && nw > 0 && w[0].dist == 0 && !w[0].self_dead &&
			HnswSameItem(st, witems[0], item))
		{
			chainDuplicate(st, w[0].id, id);
			return;
		}
		sel[lc] = palloc_array(uint32, HnswMaxLinks(st->m, lc));
		nheur[lc] = HnswSelectNeighbours(st, w, nw, witems, HnswMaxLinks(st->m, lc), 0, sel[lc]);
		/* filled up with the nearest pruned ones, as HnswSelectNeighbours would */
		nsel[lc] = nheur[lc];
		for (int i = 0; i < nw && nsel[lc] < HnswMaxLinks(st->m, lc); i++)
			if (!HnswHasLink(sel[lc], nheur[lc], w[i].id))
				sel[lc][nsel[lc]++] = w[i].id;

		cands.n = 0;
		for (int i = 0; i < nw; i++)
			HnswHeapPush(&cands, &w[i]);
		CHECK_FOR_INTERRUPTS();
	}
	for (int lc = top; lc >= 0; lc--)
		writeList(st, id, lc, sel[lc], nsel[lc]);
	for (int lc = top; lc >= 0; lc--)
	{
		bool		linked = nsel[lc] == 0;
		HnswHome   *home = palloc(sizeof(HnswHome));

		/* members pushed out by the back-links move into our list */
		home->id = id;
		home->n = nsel[lc];
		home->nfixed = nheur[lc];
		memcpy(home->links, sel[lc], sizeof(uint32) * nsel[lc]);
		for (int i = 0; i < nsel[lc]; i++)
			linked |= HnswAddBackLink(st, &src, sel[lc][i], id, lc, item, false, home);
		/* never leave the node without an incoming link (HnswKeepLink) */
		if (!linked)
			HnswAddBackLink(st, &src, sel[lc][0], id, lc, item, true, home);
	}

	if (level > entry_level)
	{
		Buffer		metabuf = ReadBuffer(st->index, HNSW_METAPAGE_BLKNO);
		HnswMetaPage meta;

		LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
		meta = HnswPageGetMeta(BufferGetPage(metabuf));
		if (meta->entry_level < level)
		{
			GenericXLogState *xlog = VecXLogStart(st->index);

			meta = HnswPageGetMeta(GenericXLogRegisterBuffer(xlog, metabuf, 0));
			meta->entry_id = id;
			meta->entry_level = level;
			GenericXLogFinish(xlog);
		}
		UnlockReleaseBuffer(metabuf);
	}
}

/*
 * The memory of one insert.  An insert allocates a few hundred kB, much of
 * it in pieces too large for an AllocSet's blocks; freed after every row,
 * glibc gave it back to the kernel and faulted it in again, a tenth of an
 * insert's time.  From 15 on, a generation context whose first block is
 * kept serves every insert of the backend, reset after each (and at the
 * start of the next, for one an error cut short).
 */
static MemoryContext
insertContext(void)
{
#ifdef VEC_HAVE_KEPT_GENERATION_CONTEXT
	static MemoryContext cxt = NULL;

	if (cxt == NULL)
		cxt = GenerationContextCreate(TopMemoryContext, "Hnsw insert temporary context",
									  1024 * 1024, 1024 * 1024, 8 * 1024 * 1024);
	else
		MemoryContextReset(cxt);
	return cxt;
#else
	return AllocSetContextCreate(CurrentMemoryContext, "Hnsw insert temporary context",
								 ALLOCSET_DEFAULT_SIZES);
#endif
}

bool
hnswinsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
		   Relation heap, IndexUniqueCheck checkUnique VEC_AMINSERT_UNCHANGED_ARG,
		   IndexInfo *indexInfo)
{
	MemoryContext cxt;
	MemoryContext old;
	HnswState  *st;
	char	   *item;

	if (isnull[0])
		return false;

	cxt = insertContext();
	old = MemoryContextSwitchTo(cxt);
	st = palloc(sizeof(HnswState));
	HnswInitState(st, index);
	item = palloc0(st->item_max);
	if (VecIndexValueToItem(st->ops, st->metric, st->dim, values[0], item))
	{
		HnswLoadMeta(st);
		HnswInsertItem(st, item, heap_tid, HnswRandomLevel(st->m, VecRandomDouble()));
	}
	MemoryContextSwitchTo(old);
#ifdef VEC_HAVE_KEPT_GENERATION_CONTEXT
	MemoryContextReset(cxt);
#else
	MemoryContextDelete(cxt);
#endif
	return false;
}
