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
 *	   selection heuristic, each a WAL record of its own (hnswlinks.c);
 *	5. becomes the entry point when its level is the highest.
 * Nobody links to the node before step 4, and by then its lists on every
 * level are written, so readers never find it half built.
 */
#include "compat.h"

#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/freespace.h"
#include "access/xloginsert.h"
#include "storage/lmgr.h"
#include "storage/smgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnsw.h"
#include "kernels.h"

/* ---------------------------------------------------------------- alloc */

/*
 * The size of the next chunk of node pages, for an index whose node pages
 * hold capacity slots and whose run table has nruns runs.
 *
 * Chunks grow with the index, in three steps as its run table fills.
 * While fewer than a sixth of the runs are in use (always, unless upper or
 * item pages keep cutting the node pages into runs), a chunk is a 1,024th
 * of the node pages so far: pg_relation_size() counts a chunk's pages
 * before they are used, and a 64th left an index under updates 1.5 %
 * larger than the rows in it need (36.6 MiB where 36.1 would do after a
 * round of bench/soak.py).  Up to two thirds, a chunk is a 64th.  Both are
 * at least one page and at most 2,048 (16 MB).  A chunk adds a run only
 * when an upper or item page was appended since the last one, so runs grow
 * with those pages, not with the chunks.  Past two thirds, a chunk is an
 * eighth of the node pages, without a cap: each chunk then adds at most
 * one run and grows the node pages by at least 1/8 (less 1/400 for
 * rounding, there being at least one page per run), and going from 400
 * pages to the most a relation can have (2^32 blocks) takes at most
 * log(2^32 / 400) / log(1.1225) = 140 such chunks: 400 + 140 + 1 < 600, so
 * the table cannot fill.  A big chunk costs no more than a small one, since
 * its pages are not written until they are used (extendNodePages).
 * hnsw.test_max_runs shrinks the table, and the cap to one page, so that a
 * test can reach that point.
 */
static uint32
chunkPages(const HnswState *st, uint32 capacity, uint32 nruns)
{
	uint32		pages = capacity / st->nodes_per_page;
	int			max_runs = HnswMaxRuns();
	uint32		cap = hnsw_test_max_runs > 0 ? 1 : 2048;

	if (nruns >= (uint32) max_runs / 3 * 2)
		return Max(1, pages / 8);
	if (nruns < (uint32) max_runs / 6)
		return Max(1, Min(pages / 1024, cap));
	return Max(1, Min(pages / 64, cap));
}

/*
 * Make room for more nodes: add a chunk of node pages at the end of the
 * relation, then publish them in the run table.
 *
 * Called without the metapage lock, and it takes that lock only briefly:
 * to read the capacity, and at the end to publish the chunk (README.md,
 * "Extending").  Scans and VACUUM go on while the pages are made; they
 * cannot reach a page before it is published, because ids map to blocks
 * only through the run table, and no id past node_capacity is handed out.
 * Extenders are serialised by a heavyweight lock on the metapage's block
 * number (not a buffer lock), so concurrent inserts that find the index
 * full wait for one chunk instead of each adding their own; when they get
 * the lock, the capacity is there and they return at once.
 *
 * The pages are not written one by one: the relation is extended by
 * writing only the chunk's last page (initialised, and WAL-logged as a full
 * image, so that redo extends the relation the same way), which leaves the
 * others all zeros, and allocateNode initialises each when it allocates its
 * first slot, in the same WAL record.  Every page a reader can reach holds
 * an allocated node, so no reader sees a zero page.  A crash or an error
 * before the chunk is published leaves pages the run table does not know:
 * never read, unused until REINDEX.
 */
static void
extendNodePages(HnswState *st)
{
	Buffer		metabuf;
	HnswMetaPage meta;
	uint32		capacity;
	uint32		max_capacity;
	uint32		chunk;
	BlockNumber first;
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
	chunk = chunkPages(st, capacity, meta->nruns);
	LockBuffer(metabuf, BUFFER_LOCK_UNLOCK);

	/* the capacity must fit a uint32 (allocateNode stops at HnswMaxNodes, below it) */
	max_capacity = (PG_UINT32_MAX / st->nodes_per_page) * st->nodes_per_page;
	chunk = Min(chunk, (max_capacity - capacity) / st->nodes_per_page);
	if (chunk == 0)
		HnswTooManyNodes(st);

	/* the chunk's last page, written past the end; the rest stay zeros */
	{
		PGAlignedBlock zero;
		Page		page = (Page) zero.data;
		BlockNumber last;

		LockRelationForExtension(st->index, ExclusiveLock);
		first = RelationGetNumberOfBlocks(st->index);
		if ((uint64) first + chunk > MaxBlockNumber)
		{
			UnlockRelationForExtension(st->index, ExclusiveLock);
			HnswTooManyNodes(st);
		}
		last = first + chunk - 1;
		HnswInitPage(page, HNSW_PAGE_NODE);
		((PageHeader) page)->pd_lower = HNSW_NODE_START + st->node_size * st->nodes_per_page;
		if (RelationNeedsWAL(st->index))
			VecLogNewPage(st->index, MAIN_FORKNUM, last, page);
		PageSetChecksumInplace(page, last);
		smgrextend(RelationGetSmgr(st->index), MAIN_FORKNUM, last, zero.data, false);
		UnlockRelationForExtension(st->index, ExclusiveLock);
	}
	HnswTestDelay(hnsw_test_extend_delay);

	/*
	 * Publish: one WAL record of the metapage.  A chunk that continues the
	 * last run extends it; else it starts a new run.
	 */
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = HnswPageGetMeta(BufferGetPage(metabuf));
	Assert(meta->node_capacity == capacity);
	{
		HnswRun    *last = meta->nruns > 0 ? &meta->runs[meta->nruns - 1] : NULL;

		if ((last == NULL || last->start + last->npages != first) &&
			meta->nruns >= (uint32) HnswMaxRuns())
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("index \"%s\" has too many node page runs",
							RelationGetRelationName(st->index)),
					 errhint("REINDEX the index.")));
	}
	xlog = VecXLogStart(st->index);
	metapage = GenericXLogRegisterBuffer(xlog, metabuf, 0);
	meta = HnswPageGetMeta(metapage);
	{
		HnswRun    *last = meta->nruns > 0 ? &meta->runs[meta->nruns - 1] : NULL;

		if (last != NULL && last->start + last->npages == first)
			last->npages += chunk;
		else
		{
			last = &meta->runs[meta->nruns++];
			last->first_id = meta->node_capacity;
			last->start = first;
			last->npages = chunk;
		}
		meta->node_capacity += st->nodes_per_page * chunk;
	}
	HnswSetMetaLower(metapage);
	GenericXLogFinish(xlog);
	UnlockReleaseBuffer(metabuf);
	UnlockPage(st->index, HNSW_METAPAGE_BLKNO, ExclusiveLock);
}

/*
 * Page blk, an upper or item page (type) that new records may go to,
 * exclusively locked, if it has room for a record of size bytes; else
 * InvalidBuffer.
 */
static Buffer
lockIfRoom(HnswState *st, BlockNumber blk, uint16 type, Size size)
{
	Buffer		buf;

	if (blk == InvalidBlockNumber)
		return InvalidBuffer;
	buf = ReadBuffer(st->index, blk);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	/* PageAddItem PANICs on a page whose header is not sane */
	if (!HnswPageIs(BufferGetPage(buf), type))
		HnswBadPage(st->index, blk, type);
	if (PageGetFreeSpace(BufferGetPage(buf)) < MAXALIGN(size))
	{
		UnlockReleaseBuffer(buf);
		return InvalidBuffer;
	}
	return buf;
}

/*
 * The page for a new upper record (type HNSW_PAGE_UPPER) or item, locked,
 * when the page they go to now (cur) is full: the last page VACUUM listed
 * in the metapage (held exclusively) that has room.  *keep is how many
 * list entries stay: those past it were tried and had none, or are taken.
 * InvalidBuffer when none has room; the caller adds a page.
 */
static Buffer
lockListedPage(HnswState *st, Page metapage, uint16 type, BlockNumber cur, Size size, int *keep)
{
	HnswMetaReuseData *reuse = HnswMetaReuse(HnswPageGetMeta(metapage));
	const BlockNumber *list;
	int			n;

	*keep = -1;
	if (!(HnswPageGetOpaque(metapage)->flags & HNSW_META_REUSE))
		return InvalidBuffer;
	list = type == HNSW_PAGE_UPPER ? reuse->upper : reuse->item;
	n = type == HNSW_PAGE_UPPER ? reuse->nupper : reuse->nitem;
	while (n > 0)
	{
		BlockNumber blk = list[--n];
		Buffer		buf;

		if (blk == cur || blk == HNSW_METAPAGE_BLKNO)
			continue;
		buf = lockIfRoom(st, blk, type, size);
		if (buf != InvalidBuffer)
		{
			*keep = n;
			return buf;
		}
	}
	*keep = 0;
	return InvalidBuffer;
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
allocateNode(HnswState *st, const void *item, const uint32 *filter, ItemPointer tid, int level,
			 bool *was_empty)
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
	bool		fresh;
	BlockNumber free_blk;
	uint32		first = 0;
	uint32		free_left = 0;
	int			upper_keep;
	int			item_keep;

retry:
	upper_keep = item_keep = -1;

	/*
	 * A slot VACUUM freed, if the free space map knows a page with one
	 * (README.md, "Reusing slots"); else the next id, once there is room
	 * for it.  The metapage lock is not held while pages are added
	 * (extendNodePages), so that scans need not wait for a whole chunk of
	 * extensions and WAL records.
	 */
	free_blk = GetPageWithFreeSpace(st->index, st->node_size);
	for (;;)
	{
		LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
		meta = HnswPageGetMeta(BufferGetPage(metabuf));
		if (free_blk != InvalidBlockNumber)
			break;
		if (meta->node_count >= HnswMaxNodes(st))
			HnswTooManyNodes(st);
		if (meta->node_count < meta->node_capacity)
			break;
		LockBuffer(metabuf, BUFFER_LOCK_UNLOCK);
		extendNodePages(st);
	}
	/*
	 * With codes whose centre the first insert sets: the row must have
	 * been coded around the centre that holds now (HnswCodesStale).
	 */
	if (st->bits != 0 && HnswCodesStale(st))
	{
		UnlockReleaseBuffer(metabuf);
		return HNSW_NO_NODE;
	}
	/* refresh the snapshot: locating our node needs the current runs */
	HnswCopySnapshot(st, meta);
	if (free_blk != InvalidBlockNumber)
	{
		if (!HnswPageFirstId(st, free_blk, &first) || first >= st->node_count)
		{
			/* not a node page in use: a stale map entry */
			LockBuffer(metabuf, BUFFER_LOCK_UNLOCK);
			RecordPageWithFreeSpace(st->index, free_blk, 0);
			goto retry;
		}
		blk = free_blk;
		id = HNSW_NO_NODE;
		slot = -1;
	}
	else
	{
		id = meta->node_count;
		st->node_count = id + 1;
		if (!HnswFindNode(st, id, &blk, &slot))
			elog(ERROR, "hnsw node %u has no page after extension", id);
	}

	/*
	 * An upper record goes to the current upper page, an out-of-line item
	 * to the current item page; to new ones (below) when they are full.
	 */
	if (level > 0)
	{
		upperbuf = lockIfRoom(st, meta->upper_blk, HNSW_PAGE_UPPER, upper_size);
		if (upperbuf == InvalidBuffer)
			upperbuf = lockListedPage(st, BufferGetPage(metabuf), HNSW_PAGE_UPPER,
									  meta->upper_blk, upper_size, &upper_keep);
	}
	if (st->item_refs)
	{
		itembuf = lockIfRoom(st, HnswMetaItems(meta)->item_blk, HNSW_PAGE_ITEM, tuple_size);
		if (itembuf == InvalidBuffer)
			itembuf = lockListedPage(st, BufferGetPage(metabuf), HNSW_PAGE_ITEM,
									 HnswMetaItems(meta)->item_blk, tuple_size, &item_keep);
	}

	nodebuf = ReadBuffer(st->index, blk);
	LockBuffer(nodebuf, BUFFER_LOCK_EXCLUSIVE);
	/* a page of a chunk is all zeros until its first node (extendNodePages) */
	fresh = PageIsNew(BufferGetPage(nodebuf));
	if (!fresh)
		HnswCheckPage(st->index, BufferGetPage(nodebuf), blk, HNSW_PAGE_NODE);
	else if (slot != 0)
		HnswBadPage(st->index, blk, HNSW_PAGE_NODE);
	if (id == HNSW_NO_NODE)
	{
		/*
		 * The first freed slot of the page.  Allocations hold the metapage
		 * exclusively, so no other insert can take it meanwhile.  None
		 * there: the map was stale; let go of everything and start again.
		 */
		uint32		nslots = Min((uint32) st->nodes_per_page, st->node_count - first);

		for (uint32 s = 0; s < nslots; s++)
		{
			HnswNode	n = HnswPageNode(BufferGetPage(nodebuf), st, s);

			if (n->flags & HNSW_NODE_FREE)
			{
				if (id == HNSW_NO_NODE)
				{
					id = first + s;
					slot = s;
				}
				else
					free_left++;
			}
		}
		if (id == HNSW_NO_NODE)
		{
			UnlockReleaseBuffer(nodebuf);
			if (upperbuf != InvalidBuffer)
				UnlockReleaseBuffer(upperbuf);
			if (itembuf != InvalidBuffer)
				UnlockReleaseBuffer(itembuf);
			upperbuf = itembuf = InvalidBuffer;
			LockBuffer(metabuf, BUFFER_LOCK_UNLOCK);
			RecordPageWithFreeSpace(st->index, free_blk, 0);
			goto retry;
		}
	}
	if (level > 0 && upperbuf == InvalidBuffer)
		upperbuf = VecIndexNewBuffer(st->index, MAIN_FORKNUM);
	if (st->item_refs && itembuf == InvalidBuffer)
		itembuf = VecIndexNewBuffer(st->index, MAIN_FORKNUM);

	xlog = VecXLogStart(st->index);
	metapage = GenericXLogRegisterBuffer(xlog, metabuf, 0);
	meta = HnswPageGetMeta(metapage);
	if (upper_keep >= 0)
		HnswMetaReuse(meta)->nupper = upper_keep;
	if (item_keep >= 0)
		HnswMetaReuse(meta)->nitem = item_keep;
	page = GenericXLogRegisterBuffer(xlog, nodebuf, fresh ? GENERIC_XLOG_FULL_IMAGE : 0);
	if (fresh)
	{
		HnswInitPage(page, HNSW_PAGE_NODE);
		((PageHeader) page)->pd_lower = HNSW_NODE_START + st->node_size * st->nodes_per_page;
	}
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
	if (st->nfilters > 0)
		memcpy(HnswNodeFilter(node, st), filter, st->filter_size);

	if (free_blk == InvalidBlockNumber)
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
	if (free_blk != InvalidBlockNumber)
		RecordPageWithFreeSpace(st->index, free_blk, HnswFreeSlotSpace(st, free_left));
	return id;
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
	/* newer than every member after it: see HnswDupStamp */
	HnswSetDupStamp(node, st->item_size, GetXLogInsertRecPtr());
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
/* HnswInserter callbacks: the graph on pages */
static const char *
diskItem(HnswInserter *ins, uint32 id, char *buf)
{
	return HnswSourceItem(ins->src, id, buf);
}

/*
 * With codes: is id's stored record the new node's (ins->arg)?  Only then
 * may the node join id's chain, since the scan returns a chain's members
 * with the head's bound.
 */
static bool
diskSame(HnswInserter *ins, uint32 id)
{
	char	   *rec = palloc(ins->st->item_max);
	bool		same;

	HnswReadItem(ins->st, id, rec);
	same = memcmp(rec, ins->arg, ins->st->item_size) == 0;
	pfree(rec);
	return same;
}

/* id's filter values, copied from its page */
static const uint32 *
diskFilterOf(HnswInserter *ins, uint32 id, uint32 *buf)
{
	HnswReadFilter(ins->st, id, buf);
	return buf;
}

static void
diskChain(HnswInserter *ins, uint32 head, uint32 id)
{
	chainDuplicate(ins->st, head, id);
}

static void
diskWriteList(HnswInserter *ins, uint32 id, int level, const uint32 *links, int n)
{
	HnswWriteList(ins->st, id, level, links, n);
}

/*
 * Back-links fill full lists completely, and a member one pushes out moves
 * into the new node's list in the same WAL record (README.md, section 1,
 * items 2 and 8): a graph grown by inserts needs full lists to stay
 * connected.
 */
static void
diskBackLinks(HnswInserter *ins, uint32 id, int level, const void *item,
			  const uint32 *sel, int nsel, int nheur)
{
	bool		linked = false;
	HnswHome   *home = palloc(sizeof(HnswHome));

	home->id = id;
	home->n = nsel;
	home->nfixed = nheur;
	home->nown = nheur;
	memcpy(home->links, sel, sizeof(uint32) * nsel);
	for (int i = 0; i < nsel; i++)
		linked |= HnswAddBackLink(ins->st, ins->src, sel[i], id, level, item, false, home);
	if (!linked)
		HnswAddBackLink(ins->st, ins->src, sel[0], id, level, item, true, home);
}

static void
insertItem(HnswState *st, const void *item, const uint32 *filter, ItemPointer tid, int level)
{
	bool		was_empty;
	uint32		id;
	HnswSource	src;
	HnswVisited visited;
	HnswHeap	cands;
	HnswHeap	results;
	HnswInserter ins;
	uint32		entry;
	int			entry_level;
	const void *gitem = item;
	const void *query = NULL;
	const void *rowitem = item;

	for (;;)
	{
		/*
		 * With codes the node stores its record; the searches score its
		 * query, and its neighbours are chosen among graph items
		 * (hnswcodes.c).  The first row into an index built empty sets
		 * the centre first (HnswCodesSetCentre).
		 */
		if (st->bits != 0)
		{
			char	   *rec = palloc(st->item_max);
			void	   *qbuf;
			float	   *g = palloc(st->item_max);

			if (HnswCodesProvisional(st) && st->node_count == 0)
			{
				HnswCodesSetCentre(st, rowitem);
				st->codes = NULL;
			}
			qbuf = HnswQueryAlloc(st);
			HnswEncode(st, rowitem, rec);
			HnswPrepareQuery(st, rowitem, false, qbuf);
			HnswDecode(st, rec, g);
			item = rec;
			gitem = g;
			query = qbuf;
		}
		/* the tag pages cover the ids to come (hnswfilter.c) */
		if (st->nfilters > 0)
			HnswTagsEnsure(st, st->node_count + 1);
		id = allocateNode(st, item, filter, tid, level, &was_empty);
		if (id != HNSW_NO_NODE)
			break;
		/* the centre was set since this row was coded: code it again */
		st->codes = NULL;
		HnswLoadMeta(st);
	}
	if (st->nfilters > 0)
		HnswTagSet(st, id, filter);
	if (was_empty)
		return;
	entry = st->entry_id;
	entry_level = st->entry_level;

	HnswDiskSourceInit(&src, st);
	HnswVisitedInitHash(&visited, st->ef_construction * 2 * st->m);
	HnswHeapInit(&cands, st->ef_construction * 4, false);
	HnswHeapInit(&results, st->ef_construction + 1, true);
	memset(&ins, 0, sizeof(ins));
	ins.src = &src;
	ins.st = st;
	ins.item = diskItem;
	ins.chain = diskChain;
	ins.write_list = diskWriteList;
	ins.back_links = diskBackLinks;
	ins.visited = &visited;
	ins.cands = &cands;
	ins.results = &results;
	/*
	 * The build walks the paper's single greedy path (seed_ef 0): seeding
	 * layer 0 from level 1 took its time on sift-128 (100,000 rows) from
	 * 11.8 s to 14.3 s (seed_ef 16) and 14.6 s (64), medians of 3, with
	 * recall unchanged (0.975 at ef_search 40).  Islands form where inserts
	 * meet a region that VACUUM left without upper-level nodes; inserts pay
	 * 927 -> 816 rows/s (seed_ef m = 16) for that.
	 */
	ins.seed_ef = st->m;
	ins.query = query;
	if (st->nfilters > 0)
	{
		ins.filter = filter;
		ins.filter_of = diskFilterOf;
	}
	if (st->bits != 0)
	{
		ins.same = diskSame;
		ins.arg = (void *) item;
	}
	HnswInserterScratch(&ins);
	if (HnswInsertNode(&ins, id, gitem, level, entry, entry_level))
		return;

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
 * Insert one item.  The share lock on the insert lock lets VACUUM wait out
 * the inserts in progress before it frees slots: an insert may link to a
 * node it found live before VACUUM flagged it (README.md, "Reusing slots").
 * An error releases it with the transaction.
 */
void
HnswInsertItem(HnswState *st, const void *item, const uint32 *filter, ItemPointer tid, int level)
{
	HnswLockInserts(st->index, ShareLock);
	insertItem(st, item, filter, tid, level);
	HnswUnlockInserts(st->index, ShareLock);
}

/*
 * The uniform draw behind a new node's level.  Under hnsw.test_level_seed
 * (tests only) it comes from a splitmix64 sequence started at the seed in
 * each session, so that two sessions inserting the same rows in the same
 * order build the same graph: test/t/052 compares two indexes byte for byte.
 */
static double
levelDraw(void)
{
	static int	seeded = 0;
	static uint64_t state;

	if (hnsw_test_level_seed == 0)
		return VecRandomDouble();
	if (seeded != hnsw_test_level_seed)
	{
		seeded = hnsw_test_level_seed;
		state = (uint64_t) seeded;
	}
	return (double) (vk_splitmix64(&state) >> 11) / (double) (UINT64CONST(1) << 53);
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
		uint32	   *filter = NULL;

		if (st->nfilters > 0)
		{
			filter = palloc(st->filter_size);
			HnswFilterForm(st, values, isnull, filter);
		}
		HnswLoadMeta(st);
		HnswInsertItem(st, item, filter, heap_tid, HnswRandomLevel(st->m, levelDraw()));
	}
	MemoryContextSwitchTo(old);
#ifdef VEC_HAVE_KEPT_GENERATION_CONTEXT
	MemoryContextReset(cxt);
#else
	MemoryContextDelete(cxt);
#endif
	return false;
}
