/*
 * hnswreclaim.c
 *	  VACUUM's passes 4 and 5, which also run when VACUUM deletes nothing:
 *	  link back every node the entry point cannot reach, then free the slots
 *	  of flagged nodes and orphans that nothing can lead to any more, and
 *	  tell the free space map (README.md, section 5, and "Reusing slots").
 */
#include "compat.h"

#include <float.h>

#include "access/generic_xlog.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/freespace.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnswvacuum.h"


/*
 * Pass 4, also run by every VACUUM that deletes nothing (which uses the
 * count of live nodes it returns): link back every
 * node the entry point cannot reach.  An insert's back-link into a full
 * list can push out another node's last incoming link, and a repaired list
 * can drop one; such a node is never returned again (it was about 1 in
 * 1,500 inserted rows under churn).  A breadth-first walk over every level
 * finds them; each is looked up from the entry point like a query and
 * force-linked from the nearest reached node, and what it reaches is
 * reached.  A forced link can push out another, so the walk runs again,
 * three rounds at most.  Nodes added after the walk began are left to the
 * next VACUUM.
 */
/* pass 4's headers, for its on_link callback and for pass 5 */
typedef struct ReachFacts
{
	uint8	   *flags;
	uint32	   *dup_next;
	uint8	   *linked;			/* a live node's list links to it */
	uint8	   *approved;		/* an orphan pass 5 may free (approveOrphans) */
} ReachFacts;

static void
walkOnLink(void *arg, uint32 id, int level, uint32 nb)
{
	ReachFacts *f = (ReachFacts *) arg;

	/* a flagged head of a live chain stays a graph node: its lists count */
	if (!(f->flags[id] & HNSW_NODE_DELETED) || f->dup_next[id] != HNSW_NO_NODE)
		f->linked[nb] = 1;
}

/* A flagged graph node that heads no chain: its slot may be freed. */
static inline bool
freeable(uint8 flags, uint32 dup_next)
{
	return (flags & (HNSW_NODE_DELETED | HNSW_NODE_DUP | HNSW_NODE_FREE)) == HNSW_NODE_DELETED &&
		dup_next == HNSW_NO_NODE;
}

/* A member pass 1b unlinked (or whose row went to its head), not yet freed. */
static inline bool
isOrphan(uint8 flags)
{
	return (flags & (HNSW_NODE_DELETED | HNSW_NODE_DUP | HNSW_NODE_FREE | HNSW_NODE_ORPHAN)) ==
		(HNSW_NODE_DELETED | HNSW_NODE_DUP | HNSW_NODE_ORPHAN);
}

typedef struct OrphanRef
{
	uint32		head;
	uint32		id;
} OrphanRef;

static int
orphanRefCompare(const void *a, const void *b)
{
	const OrphanRef *x = a;
	const OrphanRef *y = b;

	if (x->head != y->head)
		return x->head < y->head ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * Which orphans pass 5 may free (README.md, "Reusing slots").  A scan
 * walking a chain keeps a pin on its head's page from reading the head to
 * leaving the last member (hnswscan.c, startChain), and every orphan was
 * out of its chain before this pass began, so once this VACUUM has held a
 * cleanup lock on the head's page (no other pin on it), no walk that could
 * still reach the orphan is left, and later walks start from the chain as
 * it is now.  VACUUM never waits for that: a page that some scan keeps
 * pinned (a cursor halfway down a chain) leaves its orphans to the next
 * VACUUM.  An orphan also has to be out of its chain: pass 1b marks a run
 * of members before it unlinks them, and that can fail or be cut short.
 * Returns NULL when no orphan may be freed.
 */
static uint8 *
approveOrphans(HnswState *st, const uint8 *flags, uint32 n, BufferAccessStrategy strategy)
{
	OrphanRef  *refs;
	uint32		nrefs = 0;
	uint8	   *approved = NULL;

	for (uint32 id = 0; id < n; id++)
		nrefs += isOrphan(flags[id]);
	if (nrefs == 0)
		return NULL;
	refs = palloc_extended(sizeof(OrphanRef) * nrefs, MCXT_ALLOC_HUGE);
	nrefs = 0;
	for (uint32 id = 0; id < n; id++)
	{
		BlockNumber blk;
		int			slot;
		Buffer		buf;
		HnswNode	node;

		if (!isOrphan(flags[id]))
			continue;
		HnswLocateNode(st, id, &blk, &slot);
		buf = ReadBufferExtended(st->index, MAIN_FORKNUM, blk, RBM_NORMAL, strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		HnswCheckPage(st->index, BufferGetPage(buf), blk, HNSW_PAGE_NODE);
		node = HnswPageNode(BufferGetPage(buf), st, slot);
		if (isOrphan(node->flags) && HnswNodeLinks(node, st->item_size)[0] < n)
		{
			refs[nrefs].head = HnswNodeLinks(node, st->item_size)[0];
			refs[nrefs].id = id;
			nrefs++;
		}
		UnlockReleaseBuffer(buf);
	}
	qsort(refs, nrefs, sizeof(OrphanRef), orphanRefCompare);

	for (uint32 i = 0; i < nrefs;)
	{
		uint32		head = refs[i].head;
		uint32		end = i;
		BlockNumber blk;
		int			slot;
		Buffer		buf;
		bool		quiet;

		while (end < nrefs && refs[end].head == head)
			end++;
		VecVacuumDelayPoint();
		HnswLocateNode(st, head, &blk, &slot);
		buf = ReadBufferExtended(st->index, MAIN_FORKNUM, blk, RBM_NORMAL, strategy);
		quiet = ConditionalLockBufferForCleanup(buf);
		if (quiet)
			LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		ReleaseBuffer(buf);
		if (quiet)
		{
			HnswNodeData hdr;
			uint32		steps = 0;

			/* the chain as it is now: only VACUUM unlinks, and VACUUM is us */
			HnswReadHeader(st, head, &hdr);
			for (uint32 cur = hdr.dup_next; cur != HNSW_NO_NODE && cur < n && ++steps <= n;)
			{
				HnswNodeData mem;

				for (uint32 j = i; j < end; j++)
					if (refs[j].id == cur)
						refs[j].head = HNSW_NO_NODE;	/* still in it */
				HnswReadHeader(st, cur, &mem);
				cur = mem.dup_next;
			}
			for (uint32 j = i; j < end; j++)
			{
				if (refs[j].head == HNSW_NO_NODE)
					continue;
				if (approved == NULL)
					approved = palloc_extended(n, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
				approved[refs[j].id] = 1;
			}
		}
		i = end;
	}
	pfree(refs);
	return approved;
}

/*
 * The upper records and out-of-line items of the nodes pass 5 frees: where
 * they lie, and whose they were (both begin with the node id).
 */
typedef struct FreedRecord
{
	BlockNumber blk;
	OffsetNumber off;
	uint16		type;			/* HNSW_PAGE_UPPER or HNSW_PAGE_ITEM */
	uint32		id;
} FreedRecord;

typedef struct FreedRecords
{
	FreedRecord *recs;
	uint32		n;
	uint32		cap;
} FreedRecords;

static void
addFreed(FreedRecords *fr, BlockNumber blk, OffsetNumber off, uint16 type, uint32 id)
{
	if (fr->n == fr->cap)
	{
		fr->cap = Max(64, fr->cap * 2);
		fr->recs = fr->recs ? repalloc_huge(fr->recs, sizeof(FreedRecord) * fr->cap) :
			palloc_extended(sizeof(FreedRecord) * fr->cap, MCXT_ALLOC_HUGE);
	}
	fr->recs[fr->n].blk = blk;
	fr->recs[fr->n].off = off;
	fr->recs[fr->n].type = type;
	fr->recs[fr->n].id = id;
	fr->n++;
}

static int
freedCompare(const void *a, const void *b)
{
	const FreedRecord *x = a;
	const FreedRecord *y = b;

	if (x->blk != y->blk)
		return x->blk < y->blk ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* A page with room to list, and how much. */
typedef struct RoomyPage
{
	BlockNumber blk;
	Size		room;
} RoomyPage;

static int
roomCompare(const void *a, const void *b)
{
	const RoomyPage *x = a;
	const RoomyPage *y = b;

	/* least room first: inserts take pages from the end of a list */
	if (x->room != y->room)
		return x->room < y->room ? -1 : 1;
	return x->blk < y->blk ? -1 : x->blk > y->blk;
}

/*
 * Put the pages of rooms[0..n) with the most room into list (*count of at
 * most max entries), keeping the entries already there as far as they
 * fit, least room first.  except is the page new records go to now, which
 * needs no entry.
 */
static void
mergeList(BlockNumber *list, uint16 *count, int max, RoomyPage *rooms, uint32 n,
		  BlockNumber except)
{
	BlockNumber *merged = palloc_array(BlockNumber, max);
	int			nmerged = 0;
	uint32		from = n > (uint32) max ? n - max : 0;

	qsort(rooms, n, sizeof(RoomyPage), roomCompare);
	/* old entries first, so that the pages with the most room go last */
	for (int i = 0; i < *count && nmerged < max - (int) (n - from); i++)
	{
		bool		dup = list[i] == except;

		for (uint32 j = from; j < n && !dup; j++)
			dup = rooms[j].blk == list[i];
		if (!dup)
			merged[nmerged++] = list[i];
	}
	for (uint32 j = from; j < n; j++)
		if (rooms[j].blk != except)
			merged[nmerged++] = rooms[j].blk;
	memcpy(list, merged, sizeof(BlockNumber) * nmerged);
	*count = nmerged;
	pfree(merged);
}

/*
 * Delete the freed nodes' upper records and items from their pages, and
 * list the pages that then have room in the metapage, where inserts look
 * before they add a page (README.md, "Reusing slots").  The slots were
 * freed, with their references cleared, in WAL records before this: a
 * crash in between leaves a record that nothing refers to, never a
 * reference to a deleted record.  Line pointers stay (the records of live
 * nodes keep their offsets) and are reused by the next records added.
 * A record is deleted only if it still begins with its node's id, so a
 * damaged reference cannot delete another node's record.
 */
static void
releaseRecords(HnswState *st, FreedRecords *fr, BufferAccessStrategy strategy)
{
	RoomyPage  *upper = NULL;
	RoomyPage  *item = NULL;
	uint32		nupper = 0;
	uint32		nitem = 0;
	uint32		released = 0;
	BlockNumber nblocks = RelationGetNumberOfBlocks(st->index);

	if (fr->n == 0)
		return;
	qsort(fr->recs, fr->n, sizeof(FreedRecord), freedCompare);
	upper = palloc_array(RoomyPage, fr->n);
	item = palloc_array(RoomyPage, fr->n);
	for (uint32 i = 0; i < fr->n;)
	{
		BlockNumber blk = fr->recs[i].blk;
		uint16		type = fr->recs[i].type;
		uint32		end = i;
		Buffer		buf;
		Page		page;
		GenericXLogState *xlog;
		int			deleted = 0;
		Size		room;

		while (end < fr->n && fr->recs[end].blk == blk)
			end++;
		VecVacuumDelayPoint();
		if (blk == HNSW_METAPAGE_BLKNO || blk >= nblocks)
		{
			i = end;
			continue;
		}
		buf = ReadBufferExtended(st->index, MAIN_FORKNUM, blk, RBM_NORMAL, strategy);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		if (!HnswPageIs(BufferGetPage(buf), type))
		{
			UnlockReleaseBuffer(buf);
			i = end;
			continue;
		}
		xlog = VecXLogStart(st->index);
		page = GenericXLogRegisterBuffer(xlog, buf, 0);
		for (; i < end; i++)
		{
			OffsetNumber off = fr->recs[i].off;
			ItemId		iid;

			if (fr->recs[i].type != type || off < FirstOffsetNumber ||
				off > PageGetMaxOffsetNumber(page))
				continue;
			iid = PageGetItemId(page, off);
			if (!ItemIdIsNormal(iid) || ItemIdGetLength(iid) < sizeof(uint32) ||
				ItemIdGetOffset(iid) < ((PageHeader) page)->pd_upper ||
				ItemIdGetOffset(iid) + ItemIdGetLength(iid) > ((PageHeader) page)->pd_special ||
				*(uint32 *) PageGetItem(page, iid) != fr->recs[i].id)
				continue;
			PageIndexTupleDeleteNoCompact(page, off);
			deleted++;
		}
		if (deleted > 0)
		{
			/* PageAddItem then looks for the unused line pointers */
			PageSetHasFreeLinePointers(page);
			GenericXLogFinish(xlog);
			released += deleted;
			room = PageGetFreeSpace(BufferGetPage(buf));
			if (room >= BLCKSZ / 16)
			{
				RoomyPage  *r = type == HNSW_PAGE_UPPER ? &upper[nupper++] : &item[nitem++];

				r->blk = blk;
				r->room = room;
			}
		}
		else
			GenericXLogAbort(xlog);
		UnlockReleaseBuffer(buf);
	}

	if (nupper > 0 || nitem > 0)
	{
		Buffer		metabuf = ReadBuffer(st->index, HNSW_METAPAGE_BLKNO);
		GenericXLogState *xlog;
		Page		metapage;
		HnswMetaPage meta;
		HnswMetaReuseData *reuse;

		LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
		xlog = VecXLogStart(st->index);
		metapage = GenericXLogRegisterBuffer(xlog, metabuf, 0);
		meta = HnswPageGetMeta(metapage);
		reuse = HnswMetaReuse(meta);
		if (!(HnswPageGetOpaque(metapage)->flags & HNSW_META_REUSE))
		{
			/* outside pd_lower until now: make it empty lists */
			memset(reuse, 0, sizeof(HnswMetaReuseData));
			HnswPageGetOpaque(metapage)->flags |= HNSW_META_REUSE;
		}
		if (nupper > 0)
			mergeList(reuse->upper, &reuse->nupper, HNSW_REUSE_UPPER, upper, nupper,
					  meta->upper_blk);
		if (nitem > 0)
			mergeList(reuse->item, &reuse->nitem, HNSW_REUSE_ITEM, item, nitem,
					  st->item_refs ? HnswMetaItems(meta)->item_blk : InvalidBlockNumber);
		HnswSetMetaLower(metapage);
		GenericXLogFinish(xlog);
		UnlockReleaseBuffer(metabuf);
	}
	ereport(DEBUG1,
			(errmsg("index \"%s\": released %u upper records and items; %u upper and %u item pages have room",
					RelationGetRelationName(st->index), released, nupper, nitem)));
	pfree(upper);
	pfree(item);
}

/*
 * Pass 5: free the slots of the flagged nodes no live list links to, and
 * tell the free space map about every node page with free slots (README.md,
 * "Reusing slots").  The map is not WAL-logged, so every VACUUM tells it
 * again.  The page's header is checked again under its lock: only VACUUM
 * flags nodes, but an insert may have hung a duplicate onto a flagged
 * head.
 */
static void
freeSlots(HnswState *st, const ReachFacts *f, uint32 n, BufferAccessStrategy strategy)
{
	HnswPageIter it = {0};
	BlockNumber blk;
	uint32		first;
	uint32		nslots;
	uint32		freed = 0;
	bool		any = false;
	FreedRecords fr = {0};

	HnswLoadMeta(st);
	while (HnswNextNodePage(st, &it, &blk, &first, &nslots))
	{
		uint32		nfree = 0;
		uint32		nnew = 0;

		for (uint32 s = 0; s < nslots && first + s < n; s++)
		{
			uint32		id = first + s;

			if (f->flags[id] & HNSW_NODE_FREE)
				nfree++;
			else if ((freeable(f->flags[id], f->dup_next[id]) && !f->linked[id] &&
					  id != st->entry_id) ||
					 (f->approved && f->approved[id]))
				nnew++;
		}
		if (nnew > 0)
		{
			Buffer		buf = ReadBufferExtended(st->index, MAIN_FORKNUM, blk, RBM_NORMAL, strategy);
			GenericXLogState *xlog;
			Page		page;

			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
			HnswCheckPage(st->index, BufferGetPage(buf), blk, HNSW_PAGE_NODE);
			xlog = VecXLogStart(st->index);
			page = GenericXLogRegisterBuffer(xlog, buf, 0);
			nnew = 0;
			for (uint32 s = 0; s < nslots && first + s < n; s++)
			{
				uint32		id = first + s;
				HnswNode	node = HnswPageNode(page, st, s);

				if (f->flags[id] & HNSW_NODE_FREE)
					continue;
				if (f->approved && f->approved[id])
				{
					/* an orphan: no longer a duplicate of anything */
					if (!isOrphan(node->flags))
						continue;
					node->flags = HNSW_NODE_DELETED | HNSW_NODE_FREE;
					node->dup_next = HNSW_NO_NODE;
				}
				else if (!freeable(f->flags[id], f->dup_next[id]) || f->linked[id] ||
						 id == st->entry_id || !freeable(node->flags, node->dup_next))
					continue;
				/* its upper record and item go too, once this record is logged */
				if (node->level > 0 && node->upper_blk != InvalidBlockNumber)
					addFreed(&fr, node->upper_blk, node->upper_off, HNSW_PAGE_UPPER, id);
				if (st->item_refs)
				{
					HnswItemRef ref;

					memcpy(&ref, HnswNodeItem(node), sizeof(HnswItemRef));
					if (ref.blk != InvalidBlockNumber)
						addFreed(&fr, ref.blk, ref.off, HNSW_PAGE_ITEM, id);
					/* no reference: the check skips it */
					ref.blk = InvalidBlockNumber;
					ref.off = 0;
					ref.len = 0;
					memcpy(HnswNodeItem(node), &ref, sizeof(HnswItemRef));
				}
				/* the heap TID stays: the check knows it was the node's */
				node->flags |= HNSW_NODE_FREE;
				node->level = 0;
				node->nlinks = 0;
				node->upper_blk = InvalidBlockNumber;
				node->upper_off = InvalidOffsetNumber;
				nnew++;
			}
			if (nnew > 0)
				GenericXLogFinish(xlog);
			else
				GenericXLogAbort(xlog);
			UnlockReleaseBuffer(buf);
			nfree += nnew;
			freed += nnew;
		}
		if (nfree > 0)
		{
			RecordPageWithFreeSpace(st->index, blk, HnswFreeSlotSpace(st, nfree));
			any = true;
		}
		VecVacuumDelayPoint();
	}
	releaseRecords(st, &fr, strategy);
	if (any)
		FreeSpaceMapVacuum(st->index);
	if (freed > 0)
		ereport(DEBUG1,
				(errmsg("index \"%s\": freed %u node slots", RelationGetRelationName(st->index),
						freed)));
}

/*
 * Link u from base on layer 0 for the reachability repair: into a free
 * slot, else in place of the link HnswRepairVictim picks (parent: the node
 * whose link first reached each node), deleted neighbours first.  Taking
 * such a place leaves the walk's tree whole, so no node the walk reached
 * loses its way in; the insert's back-link path
 * re-runs the heuristic, which may push out a neighbour whose only way in
 * that was, and the next round then had to link that one.  Returns false
 * when every link of a full list is a tree edge, or when the list kept
 * changing under concurrent inserts.
 */
static bool
repairLinkFrom(HnswState *st, HnswSource *src, uint32 base, uint32 u, const uint32 *parent,
			   uint32 n, char *item)
{
	int			maxlinks = HnswMaxLinks(st->m, 0);

	for (int attempt = 0; attempt < 100; attempt++)
	{
		uint32		seen[2 * HNSW_MAX_M];
		uint32		next[2 * HNSW_MAX_M];
		int			nseen = src->links(src, base, 0, seen);
		int			slot = -1;
		int			nnext = nseen;

		if (HnswHasLink(seen, nseen, u))
			return true;
		if (nseen < maxlinks)
			slot = nnext++;
		else
		{
			HnswCand	scored[2 * HNSW_MAX_M];
			float		dist[2 * HNSW_MAX_M];
			const void *query = HnswItemQuery(st, HnswSourceItem(src, base, item),
											  HnswQueryAlloc(st));

			src->score(src, query, seen, nseen, scored);
			/* deleted neighbours go first: they are dead weight */
			for (int i = 0; i < nseen; i++)
				dist[i] = scored[i].deleted ? FLT_MAX : scored[i].dist;
			slot = HnswRepairVictim(base, seen, dist, nseen, parent, n);
			if (slot < 0)
				return false;
		}
		memcpy(next, seen, sizeof(uint32) * nseen);
		next[slot] = u;
		if (HnswReplaceList(st, base, 0, seen, nseen, next, nnext))
		{
			HnswSourceWrote(src, base, 0, next, nnext);
			return true;
		}
		HnswSourceStale(src, base, 0);
		CHECK_FOR_INTERRUPTS();
	}
	return false;
}

static void
walkPause(void)
{
	VecVacuumDelayPoint();
}

double
HnswRepairReachability(HnswState *st, HnswSource *src, MemoryContext tmp,
				   BufferAccessStrategy strategy)
{
	uint32		n;
	uint8	   *levels;
	uint8	   *flags;
	uint32	   *dup_next;
	uint8	   *reached;
	uint32	   *parent;
	ReachFacts	facts;
	HnswWalk	walk;
	char	   *item = palloc(st->item_max);
	HnswPageIter it = {0};
	BlockNumber blk;
	uint32		first;
	uint32		nslots;
	uint32		linked = 0;
	double		live = 0;
	bool		anyfree = false;

	/*
	 * Wait out the inserts in progress before reading anything: one may
	 * link to a node it found live before pass 1 flagged it, and its own
	 * node (with that link) is then below n and walked.  Inserts that start
	 * now find it flagged and never link to it.  See freeSlots.
	 */
	HnswLockInserts(st->index, ExclusiveLock);
	HnswUnlockInserts(st->index, ExclusiveLock);

	HnswLoadMeta(st);
	n = st->node_count;
	levels = palloc_extended(n, MCXT_ALLOC_HUGE);
	flags = palloc_extended(n, MCXT_ALLOC_HUGE);
	dup_next = palloc_extended(sizeof(uint32) * n, MCXT_ALLOC_HUGE);
	facts.flags = flags;
	facts.dup_next = dup_next;
	facts.linked = palloc_extended(n, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	facts.approved = NULL;
	HnswWalkInit(&walk, src, n, levels, dup_next, &facts);
	walk.pause = walkPause;
	reached = walk.reached;
	parent = palloc_extended(sizeof(uint32) * Max(n, 1), MCXT_ALLOC_HUGE);
	walk.parent = parent;

	while (HnswNextNodePage(st, &it, &blk, &first, &nslots))
	{
		Buffer		buf;
		Page		page;

		if (nslots == 0)
			continue;
		buf = ReadBufferExtended(st->index, MAIN_FORKNUM, blk, RBM_NORMAL, strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		HnswCheckPage(st->index, page, blk, HNSW_PAGE_NODE);
		for (uint32 s = 0; s < nslots && first + s < n; s++)
		{
			HnswNode	node = HnswPageNode(page, st, s);

			/* a chained duplicate has no lists for the walk to follow */
			levels[first + s] = (node->flags & HNSW_NODE_DUP) ? HNSW_WALK_DUP : node->level;
			flags[first + s] = node->flags;
			dup_next[first + s] = node->dup_next;
			live += !(node->flags & HNSW_NODE_DELETED);
		}
		UnlockReleaseBuffer(buf);
		VecVacuumDelayPoint();
	}

	/*
	 * Slots to free, or freed before: note in the walk below which flagged
	 * nodes live lists still link to.
	 */
	for (uint32 u = 0; u < n && !anyfree; u++)
		anyfree = (flags[u] & HNSW_NODE_FREE) || freeable(flags[u], dup_next[u]) ||
			isOrphan(flags[u]);
	walk.layer0 = true;

	for (int round = 0; round < 3 && n >= 2 && st->entry_id != HNSW_NO_NODE; round++)
	{
		uint32		missing = 0;

		HnswWalkReset(&walk);
		memset(parent, 0xFF, sizeof(uint32) * n);
		HnswWalkFrom(&walk, st->entry_id);
		for (uint32 u = 0;; u++)
		{
			/* the next node that is in the graph, unreached, and worth reaching */
			for (; u < n; u++)
				if (!reached[u] && !(flags[u] & HNSW_NODE_DUP) &&
					(!(flags[u] & HNSW_NODE_DELETED) || dup_next[u] != HNSW_NO_NODE))
					break;
			if (u >= n)
				break;
			missing++;

			/* look it up as a query would, and link it from the nearest reached node */
			{
				MemoryContext old = MemoryContextSwitchTo(tmp);
				HnswVisited visited;
				HnswHeap	cands;
				HnswHeap	results;
				HnswCand	ep;
				HnswCand	best = {0};
				const void *query;

				best.id = HNSW_NO_NODE;
				query = HnswItemQuery(st, HnswSourceItem(src, u, item), HnswQueryAlloc(st));
				HnswVisitedInitHash(&visited, st->ef_construction * 2 * st->m);
				HnswHeapInit(&cands, st->ef_construction * 4, false);
				HnswHeapInit(&results, st->ef_construction + 1, true);
				ep = HnswGreedyDescend(src, query, st->entry_id, st->entry_level, 0);
				HnswVisitedAdd(&visited, u);
				HnswVisitedAdd(&visited, ep.id);
				HnswHeapPush(&cands, &ep);
				if (!ep.deleted)
					HnswHeapPush(&results, &ep);
				HnswSearchLayer(src, query, &cands, &results, st->ef_construction, 0,
								&visited, NULL);
				/*
				 * The nearest reached node with room in its list among the
				 * 2m nearest, so that the link pushes nobody out; else the
				 * nearest of those with a link outside the walk's tree
				 * (repairLinkFrom); else any reached node with one, which
				 * exists (n reached nodes hold at most n - 1 tree edges,
				 * each at least two slots) unless inserts are changing
				 * the lists.
				 */
				HnswSortCands(results.items, results.n, u);
				for (int pass = 0; pass < 2 && best.id == HNSW_NO_NODE; pass++)
					for (int i = 0, tried = 0; i < results.n && tried < 2 * st->m; i++)
					{
						HnswCand   *c = &results.items[i];
						uint32		nb[2 * HNSW_MAX_M];

						if (c->id >= n || !reached[c->id] ||
							(flags[c->id] & (HNSW_NODE_DUP | HNSW_NODE_DELETED)))
							continue;
						tried++;
						if ((pass == 1 || src->links(src, c->id, 0, nb) < HnswMaxLinks(st->m, 0)) &&
							repairLinkFrom(st, src, c->id, u, parent, n, item))
						{
							best = *c;
							break;
						}
					}
				for (uint32 c = 0; c < n && best.id == HNSW_NO_NODE; c++)
					if (c != u && reached[c] &&
						!(flags[c] & (HNSW_NODE_DUP | HNSW_NODE_DELETED | HNSW_NODE_FREE)) &&
						repairLinkFrom(st, src, c, u, parent, n, item))
						best.id = c;
				if (best.id != HNSW_NO_NODE)
				{
					parent[u] = best.id;
					linked++;
				}
				MemoryContextSwitchTo(old);
				MemoryContextReset(tmp);
			}
			/* reached now, or left for the next VACUUM: walk on from it */
			HnswWalkFrom(&walk, u);
		}
		if (missing == 0)
			break;
	}
	if (linked > 0)
		ereport(DEBUG1,
				(errmsg("index \"%s\": linked %u nodes the entry point could not reach",
						RelationGetRelationName(st->index), linked)));
	if (anyfree)
	{
		/*
		 * Which flagged nodes live lists still link to, on any level: walk
		 * every level from the entry point and from each node still
		 * unreached, whose lists a scan may yet follow.
		 */
		HnswWalkReset(&walk);
		walk.layer0 = false;
		walk.parent = NULL;
		walk.on_link = walkOnLink;
		HnswWalkFrom(&walk, st->entry_id);
		for (uint32 u = 0; u < n; u++)
			if (!reached[u] && !(flags[u] & HNSW_NODE_DUP) &&
				(!(flags[u] & HNSW_NODE_DELETED) || dup_next[u] != HNSW_NO_NODE))
				HnswWalkFrom(&walk, u);
		facts.approved = approveOrphans(st, flags, n, strategy);
		freeSlots(st, &facts, n, strategy);
	}
	pfree(levels);
	pfree(flags);
	pfree(dup_next);
	pfree(parent);
	HnswWalkFree(&walk);
	return live;
}
