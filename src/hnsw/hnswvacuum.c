/*
 * hnswvacuum.c
 *	  VACUUM: mark the nodes of dead heap rows deleted, repair the lists
 *	  that pointed at them, and move the entry point off a deleted node.
 *
 * Pass 1 walks the node pages in order and flags nodes whose heap TID the
 * callback reports dead (one WAL record per changed page).  Pass 2 walks
 * them again and rebuilds every list, on every level, that holds a deleted
 * node: the candidates are the live links plus the live links of the
 * deleted ones (their lists stay intact for this), chosen with the same
 * heuristic as inserts.  Deleted nodes stay traversable until then, so
 * concurrent scans and inserts keep working throughout; scans never return
 * them.  Pass 1b takes dead members out of duplicate chains, pass 3 moves
 * the entry point, pass 4 relinks what the entry point cannot reach, and
 * pass 5 frees the slots nothing can lead to any more (README.md, section 5
 * and "Reusing slots").
 * The passes in block order read each node page once, through VACUUM's
 * buffer ring (info->strategy), so that a large index does not push the
 * working set out of shared buffers.
 */
#include "compat.h"

#include "access/genam.h"
#include "commands/vacuum.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/freespace.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnsw.h"

typedef struct HnswVacuumState
{
	HnswState	st;
	HnswSource	src;
	uint8	   *deleted;		/* bitmap over node ids 0 .. nbits - 1 */
	uint32		nbits;			/* node_count when VACUUM began; frozen */
	uint32		ndeleted;
	uint32		best;			/* a live node of the highest level */
	int			best_level;
	char	   *baseitem;
	char	   *items;			/* scratch for candidate items */
	BufferAccessStrategy strategy;	/* VACUUM's ring, for the passes in block order */
	/* pass 2: the live nodes of one node page, copied out */
	uint32		page_cap;
	uint32	   *page_ids;
	int		   *page_levels;
	char	   *page_items;
	/* graph nodes that lead a duplicate chain, seen by pass 1 */
	uint32	   *heads;
	uint32		nheads;
	uint32		heads_cap;
	uint32		npromoted;		/* dead heads that took a member's row */
} HnswVacuumState;

/*
 * Was id flagged (or found a chained duplicate) by this VACUUM?  The bitmap
 * covers the nodes there were when VACUUM began.  st.node_count cannot
 * bound it: every HnswLoadMeta (a search meeting a node added since)
 * raises it while concurrent inserts go on.  Nodes added after the start
 * are never deleted-by-this-VACUUM.
 */
#define IsDeleted(vs, id) \
	((id) < (vs)->nbits && ((vs)->deleted[(id) / 8] & (1 << ((id) % 8))))

/* Pass 1: flag dead nodes, count live ones, remember the highest live. */
static void
markDeleted(HnswVacuumState *vs, IndexBulkDeleteResult *stats,
			IndexBulkDeleteCallback callback, void *callback_state)
{
	HnswState  *st = &vs->st;
	HnswPageIter it = {0};
	BlockNumber blk;
	uint32		first;
	uint32		nslots;

	while (HnswNextNodePage(st, &it, &blk, &first, &nslots))
	{
		Buffer		buf;
		GenericXLogState *xlog;
		Page		page;
		bool		changed = false;

		VecVacuumDelayPoint();
		if (nslots == 0)
			continue;
		buf = ReadBufferExtended(st->index, MAIN_FORKNUM, blk, RBM_NORMAL, vs->strategy);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		HnswCheckPage(st->index, BufferGetPage(buf), blk, HNSW_PAGE_NODE);
		xlog = VecXLogStart(st->index);
		page = GenericXLogRegisterBuffer(xlog, buf, 0);
		for (uint32 s = 0; s < nslots && first + s < vs->nbits; s++)
		{
			HnswNode	node = HnswPageNode(page, st, s);
			uint32		id = first + s;

			/*
			 * A freed slot is in no live list, and an insert may take it
			 * for a new node at any moment: not deleted for this VACUUM.
			 */
			if (node->flags & HNSW_NODE_FREE)
				continue;
			if (!(node->flags & HNSW_NODE_DELETED) && callback(&node->heaptid, callback_state))
			{
				node->flags |= HNSW_NODE_DELETED;
				changed = true;
				stats->tuples_removed++;
			}
			/*
			 * Chained duplicates are not in the graph: out of the way of
			 * repairs, but nothing to repair.  A graph node whose row is
			 * gone stays in the graph while it leads a chain.
			 */
			if (node->flags & HNSW_NODE_DUP)
			{
				vs->deleted[id / 8] |= 1 << (id % 8);
				if (!(node->flags & HNSW_NODE_DELETED))
					stats->num_index_tuples++;
			}
			else if ((node->flags & HNSW_NODE_DELETED) && node->dup_next == HNSW_NO_NODE)
			{
				vs->deleted[id / 8] |= 1 << (id % 8);
				vs->ndeleted++;
			}
			else
			{
				if (!(node->flags & HNSW_NODE_DELETED))
					stats->num_index_tuples++;
				/* a dead head may lose its chain in pass 1b: not the best */
				if ((int) node->level > vs->best_level && !(node->flags & HNSW_NODE_DELETED))
				{
					vs->best = id;
					vs->best_level = node->level;
				}
				if (node->dup_next != HNSW_NO_NODE)
				{
					if (vs->nheads == vs->heads_cap)
					{
						vs->heads_cap *= 2;
						vs->heads = repalloc_huge(vs->heads, sizeof(uint32) * vs->heads_cap);
					}
					vs->heads[vs->nheads++] = id;
				}
			}
		}
		if (changed)
			GenericXLogFinish(xlog);
		else
			GenericXLogAbort(xlog);
		UnlockReleaseBuffer(buf);
	}
}

/*
 * Point id's dup_next at next, if it still is expected (a concurrent insert
 * may have hung a new duplicate right after a head).  Returns whether it
 * was changed.
 */
static bool
setDupNext(HnswState *st, uint32 id, uint32 expected, uint32 next)
{
	BlockNumber blk;
	int			slot;
	Buffer		buf;
	HnswNode	node;
	bool		done = false;

	if (!HnswFindNode(st, id, &blk, &slot))
		elog(ERROR, "hnsw node %u has no page", id);
	buf = ReadBuffer(st->index, blk);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	HnswCheckPage(st->index, BufferGetPage(buf), blk, HNSW_PAGE_NODE);
	node = HnswPageNode(BufferGetPage(buf), st, slot);
	if (node->dup_next == expected)
	{
		GenericXLogState *xlog = VecXLogStart(st->index);

		node = HnswPageNode(GenericXLogRegisterBuffer(xlog, buf, 0), st, slot);
		node->dup_next = next;
		GenericXLogFinish(xlog);
		done = true;
	}
	UnlockReleaseBuffer(buf);
	return done;
}

/*
 * Mark member id of head's chain an orphan, before pass 1b unlinks it (or
 * as it moves the member's row into the head): pass 5 frees its slot once
 * no scan can be walking that chain any more (approveOrphans).  Marked
 * first, unlinked second: an orphan still in its chain (a crash between
 * the two) is found there by pass 5 and kept.
 */
static void
markOrphan(HnswState *st, uint32 id, uint32 head)
{
	Buffer		buf;
	HnswNode	node = HnswLockNode(st, id, BUFFER_LOCK_EXCLUSIVE, &buf);

	if ((node->flags & (HNSW_NODE_DELETED | HNSW_NODE_DUP | HNSW_NODE_FREE | HNSW_NODE_ORPHAN)) ==
		(HNSW_NODE_DELETED | HNSW_NODE_DUP))
	{
		GenericXLogState *xlog = VecXLogStart(st->index);
		Size		off = (char *) node - (char *) BufferGetPage(buf);

		/* the same record, in generic WAL's copy of the page */
		node = (HnswNode) ((char *) GenericXLogRegisterBuffer(xlog, buf, 0) + off);
		node->flags |= HNSW_NODE_ORPHAN;
		HnswNodeLinks(node, st->item_size)[0] = head;
		GenericXLogFinish(xlog);
	}
	UnlockReleaseBuffer(buf);
}

/*
 * The head of a chain is flagged and its first member mem is live: move
 * the member's row into the head, so that the head is a live graph node
 * again and the member's slot can be freed (it becomes an orphan).  Both
 * in one WAL record.  Only while no scan walks the chain: a walk that read
 * the head before the move and the member after it would return the row
 * of neither.  Walks keep a pin on the head's page (hnswscan.c,
 * startChain), so a cleanup lock on it shuts them out; VACUUM never waits
 * for one, and leaves the move to the next VACUUM when the page is pinned,
 * or when the member's page, before the head's in block order, is locked.
 * Returns whether the row was moved.
 */
static bool
promoteMember(HnswVacuumState *vs, uint32 head, uint32 mem)
{
	HnswState  *st = &vs->st;
	BlockNumber hblk,
				mblk;
	int			hslot,
				mslot;
	Buffer		hbuf;
	Buffer		mbuf = InvalidBuffer;
	Page		hpage;
	Page		mpage;
	HnswNode	hnode;
	HnswNode	mnode;
	GenericXLogState *xlog;
	bool		done = false;

	HnswLocateNode(st, head, &hblk, &hslot);
	HnswLocateNode(st, mem, &mblk, &mslot);
	hbuf = ReadBufferExtended(st->index, MAIN_FORKNUM, hblk, RBM_NORMAL, vs->strategy);
	if (!ConditionalLockBufferForCleanup(hbuf))
	{
		ReleaseBuffer(hbuf);
		return false;
	}
	if (mblk != hblk)
	{
		mbuf = ReadBuffer(st->index, mblk);
		if (mblk > hblk)
			LockBuffer(mbuf, BUFFER_LOCK_EXCLUSIVE);
		else if (!ConditionalLockBuffer(mbuf))
		{
			ReleaseBuffer(mbuf);
			UnlockReleaseBuffer(hbuf);
			return false;
		}
		HnswCheckPage(st->index, BufferGetPage(mbuf), mblk, HNSW_PAGE_NODE);
	}
	HnswCheckPage(st->index, BufferGetPage(hbuf), hblk, HNSW_PAGE_NODE);
	hnode = HnswPageNode(BufferGetPage(hbuf), st, hslot);
	mnode = HnswPageNode(BufferGetPage(BufferIsValid(mbuf) ? mbuf : hbuf), st, mslot);
	/* as read before, unless an insert hung a new member after the head */
	if ((hnode->flags & (HNSW_NODE_DELETED | HNSW_NODE_DUP | HNSW_NODE_FREE)) == HNSW_NODE_DELETED &&
		hnode->dup_next == mem &&
		(mnode->flags & (HNSW_NODE_DELETED | HNSW_NODE_DUP | HNSW_NODE_FREE)) == HNSW_NODE_DUP)
	{
		xlog = VecXLogStart(st->index);
		hpage = GenericXLogRegisterBuffer(xlog, hbuf, 0);
		mpage = BufferIsValid(mbuf) ? GenericXLogRegisterBuffer(xlog, mbuf, 0) : hpage;
		hnode = HnswPageNode(hpage, st, hslot);
		mnode = HnswPageNode(mpage, st, mslot);
		hnode->heaptid = mnode->heaptid;
		hnode->flags &= ~HNSW_NODE_DELETED;
		hnode->dup_next = mnode->dup_next;
		mnode->flags |= HNSW_NODE_DELETED | HNSW_NODE_ORPHAN;
		HnswNodeLinks(mnode, st->item_size)[0] = head;
		GenericXLogFinish(xlog);
		done = true;
	}
	if (BufferIsValid(mbuf))
		UnlockReleaseBuffer(mbuf);
	UnlockReleaseBuffer(hbuf);
	return done;
}

/*
 * Pass 1b: unlink the members of each duplicate chain whose rows are gone.
 * A dead member otherwise costs every scan that meets its head a read, and
 * a head whose own row and whole chain are dead would stay in the graph,
 * taking a result slot (ef) of every search near it and returning nothing:
 * near a deleted crowd of duplicates, scans came back with no rows.  Such a
 * head becomes an ordinary deleted node, repaired out of the lists by pass
 * 2.
 *
 * Only inserts change a head's dup_next (a new duplicate goes right after
 * it), and only VACUUM a member's, so a member's link is set without a
 * race and the head's only if it still names what was read.  An unlinked
 * member keeps its own dup_next: a scan that reached it before goes on
 * along the chain as it was.
 */
static void
unlinkDeadMembers(HnswVacuumState *vs)
{
	HnswState  *st = &vs->st;

	for (uint32 h = 0; h < vs->nheads; h++)
	{
		uint32		head = vs->heads[h];
		uint32		prev = head;
		uint32		steps = 0;
		HnswNodeData hdr;
		bool		head_dead;

		VecVacuumDelayPoint();
		HnswReadHeader(st, head, &hdr);
		head_dead = (hdr.flags & HNSW_NODE_DELETED) != 0;
		for (uint32 cur = hdr.dup_next; cur != HNSW_NO_NODE;)
		{
			HnswNodeData mem;
			uint32		next;

			if (++steps > st->node_count)
				ereport(ERROR,
						(errcode(ERRCODE_INDEX_CORRUPTED),
						 errmsg("index \"%s\" has a duplicate chain that loops",
								RelationGetRelationName(st->index)),
						 errhint("REINDEX the index.")));
			HnswReadHeader(st, cur, &mem);
			if (!(mem.flags & HNSW_NODE_DELETED))
			{
				prev = cur;
				cur = mem.dup_next;
				continue;
			}
			/* skip the whole run of dead members at once */
			markOrphan(st, cur, head);
			next = mem.dup_next;
			while (next != HNSW_NO_NODE)
			{
				HnswNodeData after;

				if (++steps > st->node_count)
					break;
				HnswReadHeader(st, next, &after);
				if (!(after.flags & HNSW_NODE_DELETED))
					break;
				markOrphan(st, next, head);
				next = after.dup_next;
			}
			if (!setDupNext(st, prev, cur, next))
			{
				/* a new duplicate went in after the head: walk again */
				if (prev != head)
					break;		/* cannot happen: only VACUUM moves a member's */
				HnswReadHeader(st, head, &hdr);
				cur = hdr.dup_next;
				continue;
			}
			cur = next;
		}
		/*
		 * A dead head with live members takes the first one's row; one that
		 * leads no chain any more is deleted like any node.
		 */
		HnswReadHeader(st, head, &hdr);
		if (head_dead && hdr.dup_next != HNSW_NO_NODE)
		{
			HnswNodeData mem;

			HnswReadHeader(st, hdr.dup_next, &mem);
			if (!(mem.flags & HNSW_NODE_DELETED) && promoteMember(vs, head, hdr.dup_next))
				vs->npromoted++;
		}
		else if (head_dead && hdr.dup_next == HNSW_NO_NODE && head < vs->nbits &&
				 !IsDeleted(vs, head))
		{
			vs->deleted[head / 8] |= 1 << (head % 8);
			vs->ndeleted++;
		}
	}
}

/*
 * Search level for the nodes nearest to id's item (vs->baseitem), as an
 * insert would; up to max live ones other than id go to out.  Used when
 * the neighbours of the deleted neighbours are too few to refill a list:
 * after heavy deletes, whole neighbourhoods go, and a list refilled only
 * from what is left nearby would cut the graph into pieces.
 */
static int
searchCandidates(HnswVacuumState *vs, uint32 id, int level, HnswCand *out, int max)
{
	HnswState  *st = &vs->st;
	HnswVisited visited;
	HnswHeap	cands;
	HnswHeap	results;
	HnswCand	ep;
	int			n = 0;

	if (st->entry_id == HNSW_NO_NODE || st->entry_level < level)
		return 0;
	HnswVisitedInitHash(&visited, st->ef_construction * 2 * st->m);
	HnswHeapInit(&cands, st->ef_construction * 4, false);
	HnswHeapInit(&results, st->ef_construction + 1, true);
	ep = HnswGreedyDescend(&vs->src, vs->baseitem, st->entry_id, st->entry_level, level);
	HnswVisitedAdd(&visited, id);
	HnswVisitedAdd(&visited, ep.id);
	HnswHeapPush(&cands, &ep);
	if (!ep.deleted && ep.id != id)
		HnswHeapPush(&results, &ep);
	HnswSearchLayer(&vs->src, vs->baseitem, &cands, &results, st->ef_construction, level,
					&visited, NULL);
	for (int i = 0; i < results.n && n < max; i++)
		if (!IsDeleted(vs, results.items[i].id))
			out[n++] = results.items[i];
	return n;
}

/*
 * Rebuild id's list on level when it holds a deleted node.  base is id's
 * item.  Lost races with inserts are retried; the last attempt's loss is
 * left for the next VACUUM.
 */
static void
repairList(HnswVacuumState *vs, uint32 id, int level)
{
	HnswState  *st = &vs->st;
	int			maxlinks = HnswMaxLinks(st->m, level);

	for (int attempt = 0; attempt < 3; attempt++)
	{
		uint32		cur[2 * HNSW_MAX_M];
		int			ncur = vs->src.links(&vs->src, id, level, cur);
		uint32	   *ids;
		int			nids = 0;
		HnswCand   *cands;
		const char **itemptr;
		uint32		kept[2 * HNSW_MAX_M];
		int			nkept;
		bool		any = false;
		HnswVisited seen;
		int			ncand = 0;

		for (int i = 0; i < ncur; i++)
			any |= IsDeleted(vs, cur[i]);
		if (!any)
			return;

		/* live links, then the live links of the deleted ones */
		ids = palloc_array(uint32, maxlinks * (maxlinks + 1));
		HnswVisitedInitHash(&seen, maxlinks * (maxlinks + 1));
		HnswVisitedAdd(&seen, id);
		for (int i = 0; i < ncur; i++)
		{
			if (!IsDeleted(vs, cur[i]) && HnswVisitedAdd(&seen, cur[i]))
				ids[nids++] = cur[i];
		}
		for (int i = 0; i < ncur; i++)
		{
			uint32		hop[2 * HNSW_MAX_M];
			int			nhop;

			if (!IsDeleted(vs, cur[i]))
				continue;
			nhop = vs->src.links(&vs->src, cur[i], level, hop);
			for (int j = 0; j < nhop; j++)
				if (!IsDeleted(vs, hop[j]) && HnswVisitedAdd(&seen, hop[j]))
					ids[nids++] = hop[j];
		}

		cands = palloc_array(HnswCand, nids + st->ef_construction + 1);
		for (int i = 0; i < nids; i += 2 * HNSW_MAX_M)
		{
			int			n = Min(2 * HNSW_MAX_M, nids - i);

			vs->src.score(&vs->src, vs->baseitem, ids + i, n, cands + i);
		}
		for (int i = 0; i < nids; i++)
			if (!cands[i].deleted)
				cands[ncand++] = cands[i];
		/*
		 * Always search from the entry point too, as an insert would: the
		 * one-hop candidates only know the old neighbourhood.  Rows that
		 * arrived since the node was inserted (a dense cluster of updates
		 * next to it) are found only so, and the back-links below then give
		 * them a way back to the node; without it, 36 of 20,611 rows were
		 * not found by their own vectors at ef_search 200 after issue 20's
		 * workload (213 at 40), with it none (4 at 40), where pgvector
		 * 0.8.0 missed none (67 at 40).  On the upper levels the search also
		 * restores the long links a greedy descent needs.
		 */
		{
			HnswCand   *found = palloc_array(HnswCand, st->ef_construction + 1);
			int			nfound = searchCandidates(vs, id, level, found, st->ef_construction);

			for (int i = 0; i < nfound; i++)
				if (HnswVisitedAdd(&seen, found[i].id))
					cands[ncand++] = found[i];
		}
		HnswSortCands(cands, ncand, id);
		/* the nearest few are enough for the heuristic to pick from */
		ncand = Min(ncand, Max(st->ef_construction, maxlinks));
		itemptr = palloc_array(const char *, Max(ncand, 1));
		vs->items = repalloc(vs->items, st->item_max * Max(ncand, 1));
		for (int i = 0; i < ncand; i++)
		{
			itemptr[i] = vs->items + st->item_max * i;
			HnswReadItem(st, cands[i].id, vs->items + st->item_max * i);
		}
		nkept = HnswSelectNeighbours(st, cands, ncand, itemptr, maxlinks, maxlinks, kept);

		/*
		 * Keep every live member: dropping one could take away its last way
		 * in.  The new candidates only fill the slots the deleted ones held,
		 * except that a deleted member farther than every candidate (a long
		 * link into another cluster, which the search around the node does
		 * not see) first hands its slot to its own nearest live neighbour,
		 * so that the long link survives.  Without that, after deleting half
		 * of 100 tight clusters and VACUUM, whole clusters could no longer
		 * be entered, and rows then inserted into them linked only to each
		 * other: 83 of 10,000 rows not found by their own vectors at ef 100,
		 * recall@10 0.984 in test/t/010_hnsw_recall.pl.
		 */
		{
			uint32		merged[2 * HNSW_MAX_M];
			int			nmerged = 0;
			uint32		dead[2 * HNSW_MAX_M];
			int			ndead = 0;
			HnswCand	deadc[2 * HNSW_MAX_M];
			char	   *deaditem = NULL;

			for (int i = 0; i < ncur; i++)
			{
				if (!IsDeleted(vs, cur[i]))
					merged[nmerged++] = cur[i];
				else
					dead[ndead++] = cur[i];
			}
			if (ncand > 0)
				vs->src.score(&vs->src, vs->baseitem, dead, ndead, deadc);
			for (int i = 0; i < ndead && ncand > 0 && nmerged < maxlinks; i++)
			{
				uint32		hop[2 * HNSW_MAX_M];
				int			nhops;
				uint32		live[2 * HNSW_MAX_M];
				int			nlive = 0;
				HnswCand	livec[2 * HNSW_MAX_M];
				int			best = -1;

				if (deadc[i].dist <= cands[ncand - 1].dist)
					continue;
				nhops = vs->src.links(&vs->src, dead[i], level, hop);
				for (int j = 0; j < nhops; j++)
					if (hop[j] != id && !IsDeleted(vs, hop[j]) &&
						!HnswHasLink(merged, nmerged, hop[j]))
						live[nlive++] = hop[j];
				if (nlive == 0)
					continue;
				if (deaditem == NULL)
					deaditem = palloc(st->item_max);
				HnswReadItem(st, dead[i], deaditem);
				vs->src.score(&vs->src, deaditem, live, nlive, livec);
				for (int j = 0; j < nlive; j++)
					if (!livec[j].deleted &&
						(best < 0 || HnswCandCompare(&livec[j], &livec[best]) < 0))
						best = j;
				if (best >= 0)
					merged[nmerged++] = livec[best].id;
			}
			for (int i = 0; i < nkept && nmerged < maxlinks; i++)
				if (!HnswHasLink(merged, nmerged, kept[i]))
					merged[nmerged++] = kept[i];
			memcpy(kept, merged, sizeof(uint32) * nmerged);
			nkept = nmerged;
		}
		if (HnswReplaceList(st, id, level, cur, ncur, kept, nkept))
		{
			/*
			 * Links into the node may have come from deleted nodes: link
			 * back from its new neighbours, as an insert does, so that it
			 * does not drop out of reach.
			 */
			for (int i = 0; i < nkept; i++)
				if (!HnswHasLink(cur, ncur, kept[i]))
					HnswAddBackLink(st, &vs->src, kept[i], id, level, vs->baseitem, false, NULL);
			return;
		}
	}
}

/* Pass 2: repair every list of every live node that holds a deleted node. */
static void
repairGraph(HnswVacuumState *vs, MemoryContext tmp)
{
	HnswState  *st = &vs->st;
	HnswPageIter it = {0};
	BlockNumber blk;
	uint32		first;
	uint32		nslots;

	/*
	 * Only the nodes there were at the start: node_count (and so the walk)
	 * grows as searches meet newer nodes, and those are left to the next
	 * VACUUM, like everything inserted after the start.
	 */
	while (HnswNextNodePage(st, &it, &blk, &first, &nslots) && first < vs->nbits)
	{
		uint32		n = Min(nslots, vs->nbits - first);
		uint32		nlive = 0;

		/*
		 * The page once: the level and item (or item reference) of each
		 * live node on it, copied out, so that the list repairs, which lock
		 * other pages, run with this one let go.
		 */
		if (n > vs->page_cap)
		{
			vs->page_cap = n;
			vs->page_ids = repalloc(vs->page_ids, sizeof(uint32) * n);
			vs->page_levels = repalloc(vs->page_levels, sizeof(int) * n);
			vs->page_items = repalloc_huge(vs->page_items, (Size) st->item_size * n);
		}
		{
			Buffer		buf = ReadBufferExtended(st->index, MAIN_FORKNUM, blk, RBM_NORMAL,
												 vs->strategy);

			LockBuffer(buf, BUFFER_LOCK_SHARE);
			HnswCheckPage(st->index, BufferGetPage(buf), blk, HNSW_PAGE_NODE);
			for (uint32 s = 0; s < n; s++)
			{
				HnswNode	node;

				if (IsDeleted(vs, first + s))
					continue;
				node = HnswPageNode(BufferGetPage(buf), st, s);
				vs->page_ids[nlive] = first + s;
				vs->page_levels[nlive] = node->level;
				/* with out-of-line items, the reference (item_size is its size) */
				memcpy(vs->page_items + (Size) st->item_size * nlive, HnswNodeItem(node),
					   st->item_size);
				nlive++;
			}
			UnlockReleaseBuffer(buf);
		}
		for (uint32 i = 0; i < nlive; i++)
		{
			uint32		id = vs->page_ids[i];
			const char *stored = vs->page_items + (Size) st->item_size * i;
			MemoryContext old = MemoryContextSwitchTo(tmp);

			if (st->item_refs)
			{
				HnswItemRef ref;

				memcpy(&ref, stored, sizeof(HnswItemRef));
				HnswReadItemRef(st, id, &ref, vs->baseitem);
			}
			else
				memcpy(vs->baseitem, stored, st->item_size);
			for (int l = vs->page_levels[i]; l >= 0; l--)
				repairList(vs, id, l);
			MemoryContextSwitchTo(old);
			MemoryContextReset(tmp);
		}
		VecVacuumDelayPoint();
	}
}

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
	if (any)
		FreeSpaceMapVacuum(st->index);
	if (freed > 0)
		ereport(DEBUG1,
				(errmsg("index \"%s\": freed %u node slots", RelationGetRelationName(st->index),
						freed)));
}

static void
walkPause(void)
{
	VecVacuumDelayPoint();
}

static double
repairReachability(HnswState *st, HnswSource *src, MemoryContext tmp,
				   BufferAccessStrategy strategy)
{
	uint32		n;
	uint8	   *levels;
	uint8	   *flags;
	uint32	   *dup_next;
	uint8	   *reached;
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
	if (anyfree)
		walk.on_link = walkOnLink;

	for (int round = 0; round < 3 && n >= 2 && st->entry_id != HNSW_NO_NODE; round++)
	{
		uint32		missing = 0;

		HnswWalkReset(&walk);
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

				best.id = HNSW_NO_NODE;
				HnswReadItem(st, u, item);
				HnswVisitedInitHash(&visited, st->ef_construction * 2 * st->m);
				HnswHeapInit(&cands, st->ef_construction * 4, false);
				HnswHeapInit(&results, st->ef_construction + 1, true);
				ep = HnswGreedyDescend(src, item, st->entry_id, st->entry_level, 0);
				HnswVisitedAdd(&visited, u);
				HnswVisitedAdd(&visited, ep.id);
				HnswHeapPush(&cands, &ep);
				if (!ep.deleted)
					HnswHeapPush(&results, &ep);
				HnswSearchLayer(src, item, &cands, &results, st->ef_construction, 0,
								&visited, NULL);
				/*
				 * The nearest reached node with room in its list, so that
				 * the forced link pushes nobody out (a member pushed out
				 * here may lose its last way in, and the last round leaves
				 * it so) among the 2m nearest; else the nearest reached
				 * node.
				 */
				HnswSortCands(results.items, results.n, u);
				for (int i = 0, tried = 0; i < results.n && tried < 2 * st->m; i++)
				{
					HnswCand   *c = &results.items[i];
					uint32		nb[2 * HNSW_MAX_M];

					if (c->id >= n || !reached[c->id] || (flags[c->id] & HNSW_NODE_DUP))
						continue;
					tried++;
					if (best.id == HNSW_NO_NODE)
						best = *c;
					if (src->links(src, c->id, 0, nb) < HnswMaxLinks(st->m, 0))
					{
						best = *c;
						break;
					}
				}
				if (best.id != HNSW_NO_NODE)
				{
					HnswAddBackLink(st, src, best.id, u, 0, item, true, NULL);
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
		facts.approved = approveOrphans(st, flags, n, strategy);
		freeSlots(st, &facts, n, strategy);
	}
	pfree(levels);
	pfree(flags);
	pfree(dup_next);
	HnswWalkFree(&walk);
	return live;
}

/* Pass 3: a deleted entry point gives way to the highest live node. */
static void
moveEntryPoint(HnswVacuumState *vs)
{
	HnswState  *st = &vs->st;
	Buffer		metabuf = ReadBuffer(st->index, HNSW_METAPAGE_BLKNO);
	HnswMetaPage meta;

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = HnswPageGetMeta(BufferGetPage(metabuf));
	if (meta->entry_id != HNSW_NO_NODE && IsDeleted(vs, meta->entry_id))
	{
		GenericXLogState *xlog;
		uint32		entry = vs->best;
		int			level = vs->best_level;

		/*
		 * Every node we saw is deleted, but inserts may have added nodes
		 * since: the newest one can serve (the metapage lock keeps more
		 * from arriving; taking its node page after it is the lock order).
		 */
		if (entry == HNSW_NO_NODE && meta->node_count > vs->nbits)
		{
			BlockNumber blk;
			int			slot;
			Buffer		buf;

			HnswCopySnapshot(st, meta);
			entry = meta->node_count - 1;
			if (!HnswFindNode(st, entry, &blk, &slot))
				elog(ERROR, "hnsw node %u has no page", entry);
			buf = ReadBuffer(st->index, blk);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			HnswCheckPage(st->index, BufferGetPage(buf), blk, HNSW_PAGE_NODE);
			level = HnswPageNode(BufferGetPage(buf), st, slot)->level;
			UnlockReleaseBuffer(buf);
		}
		xlog = VecXLogStart(st->index);
		meta = HnswPageGetMeta(GenericXLogRegisterBuffer(xlog, metabuf, 0));
		meta->entry_id = entry;
		meta->entry_level = entry == HNSW_NO_NODE ? -1 : level;
		GenericXLogFinish(xlog);
	}
	UnlockReleaseBuffer(metabuf);
}

IndexBulkDeleteResult *
hnswbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			   IndexBulkDeleteCallback callback, void *callback_state)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "Hnsw vacuum context",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext tmp = AllocSetContextCreate(cxt, "Hnsw vacuum temporary context",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	HnswVacuumState *vs = palloc0(sizeof(HnswVacuumState));

	if (stats == NULL)
		stats = (IndexBulkDeleteResult *) MemoryContextAllocZero(old, sizeof(IndexBulkDeleteResult));
	else
		stats->num_index_tuples = 0;

	HnswInitState(&vs->st, info->index);
	HnswLoadMeta(&vs->st);
	HnswDiskSourceInit(&vs->src, &vs->st);
	vs->nbits = vs->st.node_count;
	vs->deleted = palloc_extended(vs->nbits / 8 + 1, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	vs->best = HNSW_NO_NODE;
	vs->best_level = -1;
	vs->baseitem = palloc(vs->st.item_max);
	vs->items = palloc(vs->st.item_max);
	vs->strategy = info->strategy;
	vs->heads_cap = 64;
	vs->heads = palloc_array(uint32, vs->heads_cap);
	vs->page_cap = 16;
	vs->page_ids = palloc_array(uint32, vs->page_cap);
	vs->page_levels = palloc_array(int, vs->page_cap);
	vs->page_items = palloc((Size) vs->st.item_size * vs->page_cap);

	markDeleted(vs, stats, callback, callback_state);
	unlinkDeadMembers(vs);
	if (vs->npromoted > 0)
		ereport(DEBUG1,
				(errmsg("index \"%s\": %u dead duplicate chain heads took a member's row",
						RelationGetRelationName(info->index), vs->npromoted)));
	if (vs->ndeleted > 0)
	{
		repairGraph(vs, tmp);
		moveEntryPoint(vs);
	}
	(void) repairReachability(&vs->st, &vs->src, tmp, info->strategy);
	stats->num_pages = RelationGetNumberOfBlocks(info->index);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return stats;
}

/*
 * When no bulk delete ran (e.g. VACUUM of an insert-only table): repair
 * reachability, and count the live nodes on the way.
 */
IndexBulkDeleteResult *
hnswvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	HnswState	st;

	if (info->analyze_only)
		return stats;
	if (stats == NULL)
	{
		MemoryContext tmp = AllocSetContextCreate(CurrentMemoryContext,
												  "Hnsw vacuum temporary context",
												  ALLOCSET_DEFAULT_SIZES);
		HnswSource	src;

		stats = palloc0(sizeof(IndexBulkDeleteResult));
		HnswInitState(&st, info->index);
		HnswDiskSourceInit(&src, &st);
		stats->num_index_tuples = repairReachability(&st, &src, tmp, info->strategy);
		MemoryContextDelete(tmp);
	}
	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	stats->estimated_count = false;
	return stats;
}
