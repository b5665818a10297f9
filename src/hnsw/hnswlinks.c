/*
 * hnswlinks.c
 *	  Editing neighbour lists on disk, for inserts and VACUUM: finding a
 *	  node's list on a level, writing it, replacing it when it still holds
 *	  what the caller read (a compare-and-swap under the page lock), and
 *	  adding a back-link, which shrinks a full list with the selection
 *	  heuristic and moves a member it pushes out into the new node's list
 *	  in the same WAL record (README.md, section 1 item 8, and "Locking").
 */
#include "compat.h"

#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnsw.h"

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
void
HnswWriteList(HnswState *st, uint32 id, int level, const uint32 *links, int n)
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
 * farthest fill member when the list is full (a fill member already, it
 * moves into the fixed part).  With force, when every
 * member is fixed, the farthest of the node's own choices makes room:
 * those were in the graph before it, and keep their other ways in, while a
 * member taken in before may have no way in but this list (dropping it
 * left a node unreachable, at m = 4).  *own says one of them went.  False
 * when there is no room.
 */
static bool
homeTake(const HnswHome *home, int maxlinks, uint32 e, bool force, uint32 *out, int *n,
		 bool *own)
{
	int			k = 0;
	int			drop = -1;

	*own = false;
	for (int i = 0; i < home->n; i++)
	{
		if (home->links[i] != e)
			continue;
		if (i < home->nfixed)
		{
			/* fixed already: the list stays as it is */
			memcpy(out, home->links, sizeof(uint32) * home->n);
			*n = home->n;
			return true;
		}

		/*
		 * A fill member: it becomes fixed, since this list may now be its
		 * only way in (left a fill member, a later fill dropped it: nodes
		 * unreachable after sequential inserts at m = 4).
		 */
		drop = i;
		break;
	}
	if (drop < 0 && home->n >= maxlinks)
	{
		if (home->nfixed < home->n)
			drop = home->n - 1;
		else if (!force)
			return false;
		else if (home->nown > 0)
		{
			drop = home->nown - 1;
			*own = true;
		}
		else
			drop = home->n - 1;
	}
	for (int i = 0; i < Min(home->nfixed, home->n); i++)
		if (i != drop)
			out[k++] = home->links[i];
	out[k++] = e;
	for (int i = home->nfixed; i < home->n; i++)
		if (i != drop)
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
	char	   *scratch = backLinkScratch(st->item_max * (maxlinks + 2));
	char	   *items = scratch + st->item_max;
	const char *baseitem = HnswSourceItem(src, base, scratch);
	const void *basequery = NULL;	/* prepared when a full list needs it */

	/*
	 * A forced link is a node's only way in: it tries until it lands (each
	 * failed attempt means another backend changed one of the lists).
	 */
	for (int attempt = 0; attempt < (force ? 1000 : 3); attempt++)
	{
		uint32		kept[2 * HNSW_MAX_M + 1];
		int			nkept;
		HnswCand	cands[2 * HNSW_MAX_M + 1];
		const char *itemptr[2 * HNSW_MAX_M + 1];
		HnswCand	scored[2 * HNSW_MAX_M];
		int			ncand = 0;
		uint32		dropped = HNSW_NO_NODE;

		CHECK_FOR_INTERRUPTS();
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
			if (basequery == NULL)
				basequery = HnswItemQuery(st, baseitem, HnswQueryAlloc(st));
			src->score(src, basequery, seen, nseen, scored);
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
					itemptr[i] = newitem;
				else
					itemptr[i] = HnswSourceItem(src, cands[i].id, dst);
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
			bool		own;
			uint32		ids[2] = {base, home->id};
			const uint32 *exp[2] = {seen, home->links};
			int			nexp[2] = {nseen, home->n};
			const uint32 *lists[2] = {kept, hl};
			int			n[2] = {nkept, 0};

			if (!homeTake(home, maxlinks, dropped, force, hl, &hn, &own))
				return false;
			if (hn == home->n && memcmp(hl, home->links, sizeof(uint32) * hn) == 0)
			{
				/* the home links to it already; now it is fixed there */
				if (HnswReplaceList(st, base, level, seen, nseen, kept, nkept))
				{
					HnswSourceWrote(src, base, level, kept, nkept);
					for (int i = home->nfixed; i < home->n; i++)
						if (home->links[i] == dropped)
							home->nfixed = i + 1;
					return HnswHasLink(kept, nkept, id);
				}
				HnswSourceStale(src, base, level);
				continue;
			}
			n[1] = hn;
			if (replaceLists(st, level, 2, ids, exp, nexp, lists, n))
			{
				HnswSourceWrote(src, base, level, kept, nkept);
				HnswSourceWrote(src, home->id, level, hl, hn);
				if (own)
				{
					home->nown--;
					home->nfixed--;
				}
				home->nfixed = Min(home->nfixed + 1, hn);
				memcpy(home->links, hl, sizeof(uint32) * hn);
				home->n = hn;
				return HnswHasLink(kept, nkept, id);
			}

			/*
			 * Either list changed.  If the home's did (another backend
			 * linked to it), take it as it is now, all of it fixed.
			 */
			HnswSourceStale(src, base, level);
			HnswSourceStale(src, home->id, level);
			{
				uint32		cur[2 * HNSW_MAX_M];
				int			ncur = src->links(src, home->id, level, cur);

				if (ncur != home->n || memcmp(cur, home->links, sizeof(uint32) * ncur) != 0)
				{
					memcpy(home->links, cur, sizeof(uint32) * ncur);
					home->n = ncur;
					home->nfixed = ncur;
					home->nown = 0;		/* which are its own choices is not known now */
				}
			}
			continue;
		}
		if (HnswReplaceList(st, base, level, seen, nseen, kept, nkept))
		{
			HnswSourceWrote(src, base, level, kept, nkept);
			return HnswHasLink(kept, nkept, id);
		}
		HnswSourceStale(src, base, level);
	}
	/* lost the race every time; the link is left out, as if pruned */
	return false;
}
