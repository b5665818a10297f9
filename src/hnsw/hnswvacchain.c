/*
 * hnswvacchain.c
 *	  VACUUM's pass 1b: the members of duplicate chains whose rows are gone
 *	  are marked orphans and unlinked, and a dead head takes its first live
 *	  member's row (README.md, section 5, and "Reusing slots").  Pass 5
 *	  (hnswreclaim.c) frees the orphans' slots once no scan can be walking
 *	  their chains.
 */
#include "compat.h"

#include "access/generic_xlog.h"
#include "commands/vacuum.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

#include "hnswvacuum.h"


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
void
HnswUnlinkDeadMembers(HnswVacuumState *vs)
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
			/*
			 * Skip the whole run of dead members at once.  Each member
			 * counts one step, the live one that ends the run too, but
			 * only once: the outer loop counts it when it gets there.
			 * (Counted here as well, a chain of alternately live and dead
			 * members took half again as many steps as it has members, and
			 * VACUUM stopped with "loops" on a sound chain of 10 rows.)
			 */
			markOrphan(st, cur, head);
			next = mem.dup_next;
			while (next != HNSW_NO_NODE)
			{
				HnswNodeData after;

				HnswReadHeader(st, next, &after);
				if (!(after.flags & HNSW_NODE_DELETED))
					break;
				if (++steps > st->node_count)
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
