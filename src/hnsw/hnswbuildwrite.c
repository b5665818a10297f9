/*
 * hnswbuildwrite.c
 *	  CREATE INDEX, the one-pass write: the order nodes are laid out in so
 *	  that neighbours share pages, the item pages of out-of-line items, and
 *	  the node, upper and metapages written in one sequential pass and
 *	  WAL-logged as whole pages.
 */
#include "compat.h"

#include <float.h>

#include "access/parallel.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "hnswbuild.h"


/* ---------------------------------------------------------------- write */

/*
 * The order nodes are written in, so that nodes near each other share
 * pages: a search scores a node's unvisited neighbours page by page
 * (diskScore), and pins and locks fewer pages when they sit together.
 * Seeds come in breadth-first order over layer 0 from the entry point
 * (then the nodes the walk does not reach); each seed opens a group that
 * takes its nearest unplaced neighbours, then theirs, until the page is
 * full.  A duplicate chain follows its head.  Returns order[new id] =
 * build id; newid is the inverse.
 */
static uint32 *
layoutOrder(HnswBuildState *bs, uint32 *newid)
{
	uint32		n = bs->n;
	uint32	   *order = palloc_extended(sizeof(uint32) * Max(n, 1), MCXT_ALLOC_HUGE);
	uint32	   *seeds = palloc_extended(sizeof(uint32) * Max(n, 1), MCXT_ALLOC_HUGE);
	uint8	   *seen = palloc_extended(Max(n, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	uint32	   *group = palloc_extended(sizeof(uint32) * Max(n, 1), MCXT_ALLOC_HUGE);
	uint32		nseeds = 0,
				head = 0,
				tail = 0;
	int			npp = BuildDiskState(bs)->nodes_per_page;

	/* seeds: breadth-first over layer 0 from the entry point, then from each node missed */
	for (uint32 next = 0; nseeds < n;)
	{
		uint32		s;

		if (nseeds == 0 && bs->entry != HNSW_NO_NODE)
			s = bs->entry;
		else
		{
			while (seen[next])
				next++;
			s = next;
		}
		seen[s] = 1;
		seeds[nseeds++] = s;
		while (head < nseeds)
		{
			uint32		id = seeds[head++];
			uint32		count;
			uint32	   *links;

			if (bs->levels[id] == HNSW_BUILD_DUP)
				continue;
			links = HnswBuildLinks(bs, id, 0, &count);
			for (uint32 i = 0; i < count; i++)
				if (!seen[links[i]])
				{
					seen[links[i]] = 1;
					seeds[nseeds++] = links[i];
				}
		}
	}
	Assert(nseeds == n);

	for (uint32 id = 0; id < n; id++)
		newid[id] = HNSW_NO_NODE;

#define PLACE(x) \
	do { \
		for (uint32 d_ = (x); d_ != HNSW_NO_NODE && newid[d_] == HNSW_NO_NODE; d_ = bs->dup_next[d_]) \
		{ \
			newid[d_] = tail; \
			order[tail++] = d_; \
		} \
	} while (0)

	tail = 0;
	for (uint32 i = 0; i < n; i++)
	{
		uint32		ghead = 0,
					gtail = 0;

		if (newid[seeds[i]] != HNSW_NO_NODE)
			continue;
		PLACE(seeds[i]);
		group[gtail++] = seeds[i];
		while (ghead < gtail && tail % npp != 0)
		{
			uint32		id = group[ghead++];
			uint32		count;
			uint32	   *links;

			if (bs->levels[id] == HNSW_BUILD_DUP)
				continue;
			links = HnswBuildLinks(bs, id, 0, &count);
			for (uint32 k = 0; k < count && tail % npp != 0; k++)
				if (newid[links[k]] == HNSW_NO_NODE)
				{
					PLACE(links[k]);
					group[gtail++] = links[k];
				}
		}
	}
#undef PLACE
	Assert(tail == n);
	pfree(seeds);
	pfree(seen);
	pfree(group);
	return order;
}

/* Renumber links[0..n) through newid into out. */
static void
mapLinks(const uint32 *newid, const uint32 *links, int n, uint32 *out)
{
	for (int i = 0; i < n; i++)
		out[i] = newid[links[i]];
}

/*
 * Where each variable-length item goes: item pages from block first, in the
 * layout order (refs[] is indexed by the new id), each filled as far as PageAddItem would fill it.  Fills refs[]
 * and returns the number of item pages.
 */
static BlockNumber
layoutItems(HnswBuildState *bs, const uint32 *order, BlockNumber first, HnswItemRef *refs)
{
	BlockNumber npages = 0;
	Size		avail = 0;
	OffsetNumber off = InvalidOffsetNumber;

	for (uint32 nid = 0; nid < bs->n; nid++)
	{
		Size		len = bs->st.ops->item_len(VarItem(bs, order[nid]));
		Size		need = MAXALIGN(HnswItemTupleSize(len)) + sizeof(ItemIdData);

		if (npages == 0 || need > avail)
		{
			npages++;
			avail = HNSW_ITEM_PAGE_SPACE;
			off = InvalidOffsetNumber;
		}
		avail -= need;
		off = OffsetNumberNext(off);
		refs[nid].blk = first + npages - 1;
		refs[nid].off = off;
		refs[nid].len = len;
	}
	return npages;
}

/* Write the item pages layoutItems planned, after the pages so far. */
static void
writeItems(HnswBuildState *bs, const uint32 *order, const HnswItemRef *refs)
{
	Buffer		buf = InvalidBuffer;
	char	   *tup = palloc(HnswItemTupleSize(bs->st.item_max));

	for (uint32 id = 0; id < bs->n; id++)
	{
		Page		page;
		OffsetNumber off;
		const char *item = VarItem(bs, order[id]);

		if (!BufferIsValid(buf) || BufferGetBlockNumber(buf) != refs[id].blk)
		{
			if (BufferIsValid(buf))
			{
				MarkBufferDirty(buf);
				UnlockReleaseBuffer(buf);
			}
			buf = VecIndexNewBuffer(bs->st.index, MAIN_FORKNUM);
			if (BufferGetBlockNumber(buf) != refs[id].blk)
				elog(ERROR, "hnsw item page is block %u, expected %u",
					 BufferGetBlockNumber(buf), refs[id].blk);
			HnswInitPage(BufferGetPage(buf), HNSW_PAGE_ITEM);
			CHECK_FOR_INTERRUPTS();
		}
		page = BufferGetPage(buf);
		*(uint32 *) tup = id;
		memcpy(tup + HNSW_ITEM_TUPLE_HDR, item, refs[id].len);
		off = PageAddItem(page, (Item) tup, HnswItemTupleSize(refs[id].len),
						  InvalidOffsetNumber, false, false);
		if (off != refs[id].off)
			elog(ERROR, "hnsw item of node %u went to offset %u, expected %u",
				 id, off, refs[id].off);
	}
	if (BufferIsValid(buf))
	{
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}
	pfree(tup);
}

/*
 * Write the in-memory graph: node pages from block 1 in id order (one
 * run), then the upper pages, then (out-of-line items) the item pages,
 * then the metapage; then WAL-log every page as a full image, the way
 * GiST and GIN builds do.  Node records point at upper records and items,
 * so both are laid out before the first node page is written.
 */
/* The tag entries of the write: node nid of the new order (HnswWriteTagPages) */
typedef struct TagArg
{
	HnswBuildState *bs;
	const uint32 *order;
} TagArg;

static const uint32 *
tagEntry(void *arg, uint32 nid)
{
	TagArg	   *ta = (TagArg *) arg;

	return BuildFilter(ta->bs, ta->order[nid]);
}

void
HnswBuildWrite(HnswBuildState *bs)
{
	HnswState  *st = BuildDiskState(bs);
	Relation	index = st->index;
	/* (rounded up without overflowing: n may be near HnswMaxNodes) */
	uint32		npages = bs->n / st->nodes_per_page + (bs->n % st->nodes_per_page != 0);
	BlockNumber *upper_blk = palloc_extended(sizeof(BlockNumber) * Max(bs->n, 1), MCXT_ALLOC_HUGE);
	OffsetNumber *upper_off = palloc_extended(sizeof(OffsetNumber) * Max(bs->n, 1), MCXT_ALLOC_HUGE);
	List	   *upper_pages = NIL;
	Page		upage = NULL;
	BlockNumber next_upper = 1 + npages;
	Buffer		buf;
	HnswMetaPage meta;
	ListCell   *lc;
	uint32	   *newid = palloc_extended(sizeof(uint32) * Max(bs->n, 1), MCXT_ALLOC_HUGE);
	uint32	   *order = layoutOrder(bs, newid);
	HnswItemRef *refs = NULL;
	BlockNumber nitem_pages = 0;

	/* lay out the upper records first: node headers point at them */
	for (uint32 nid = 0; nid < bs->n; nid++)
	{
		uint32		id = order[nid];
		int			level = bs->levels[id];
		Size		size;
		HnswUpperData *rec;

		upper_blk[nid] = InvalidBlockNumber;
		upper_off[nid] = InvalidOffsetNumber;
		if (level == 0 || level == HNSW_BUILD_DUP)
			continue;
		size = HnswUpperSize(st->m, level);
		rec = palloc0(size);
		rec->node_id = nid;
		rec->nlevels = level;
		for (int l = 1; l <= level; l++)
		{
			HnswUpperLevel *lv = HnswUpperGetLevel(rec, st->m, l);
			uint32	   *up = BuildUpper(bs, id, l);

			lv->count = up[0];
			mapLinks(newid, up + 1, up[0], lv->links);
		}
		if (upage == NULL || PageGetFreeSpace(upage) < MAXALIGN(size))
		{
			upage = palloc(BLCKSZ);
			HnswInitPage(upage, HNSW_PAGE_UPPER);
			upper_pages = lappend(upper_pages, upage);
			if (list_length(upper_pages) > 1)
				next_upper++;
		}
		upper_off[nid] = PageAddItem(upage, (Item) rec, size, InvalidOffsetNumber, false, false);
		if (upper_off[nid] == InvalidOffsetNumber)
			elog(ERROR, "could not add hnsw upper record of %zu bytes", size);
		upper_blk[nid] = next_upper;
		pfree(rec);
	}

	/* the item pages follow the upper pages */
	if (st->item_refs)
	{
		refs = palloc_extended(sizeof(HnswItemRef) * Max(bs->n, 1), MCXT_ALLOC_HUGE);
		nitem_pages = layoutItems(bs, order, 1 + npages + list_length(upper_pages), refs);
	}

	for (uint32 p = 0; p < npages; p++)
	{
		Page		page;
		int			nslots = Min(st->nodes_per_page, (int) (bs->n - p * st->nodes_per_page));

		buf = VecIndexNewBuffer(index, MAIN_FORKNUM);
		Assert(BufferGetBlockNumber(buf) == 1 + p);
		page = BufferGetPage(buf);
		HnswInitPage(page, HNSW_PAGE_NODE);
		((PageHeader) page)->pd_lower = HNSW_NODE_START + st->node_size * st->nodes_per_page;
		for (int s = 0; s < nslots; s++)
		{
			uint32		nid = p * st->nodes_per_page + s;
			uint32		id = order[nid];
			HnswNode	node = HnswPageNode(page, st, s);

			node->heaptid = bs->tids[id];
			node->level = bs->levels[id] == HNSW_BUILD_DUP ? 0 : bs->levels[id];
			node->flags = bs->levels[id] == HNSW_BUILD_DUP ? HNSW_NODE_DUP : 0;
			node->dup_next = bs->dup_next[id] == HNSW_NO_NODE ? HNSW_NO_NODE :
				newid[bs->dup_next[id]];
			node->nlinks = bs->nlinks0[id];
			node->upper_blk = upper_blk[nid];
			node->upper_off = upper_off[nid];
			if (st->item_refs)
				memcpy(HnswNodeItem(node), &refs[nid], sizeof(HnswItemRef));
			else if (bs->codes)
				memcpy(HnswNodeItem(node), HnswBundleRecord(FixedItem(bs, id)), st->item_size);
			else
				memcpy(HnswNodeItem(node), FixedItem(bs, id), st->item_size);
			mapLinks(newid, BuildLinks0(bs, id), bs->nlinks0[id],
					 HnswNodeLinks(node, st->item_size));
			if (st->nfilters > 0)
				memcpy(HnswNodeFilter(node, st), BuildFilter(bs, id), st->filter_size);
			if (node->flags & HNSW_NODE_DUP)
				HnswSetDupStamp(node, st->item_size, HNSW_STAMP_BUILD);
		}
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
		CHECK_FOR_INTERRUPTS();
	}

	foreach(lc, upper_pages)
	{
		buf = VecIndexNewBuffer(index, MAIN_FORKNUM);
		memcpy(BufferGetPage(buf), lfirst(lc), BLCKSZ);
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}
	if (st->item_refs)
		writeItems(bs, order, refs);
	if (bs->codes)
		st->codes_blk = HnswWriteCodesPages(st, bs->centre, bs->n == 0);
	if (st->nfilters > 0)
	{
		TagArg		ta = {bs, order};

		st->tagdir_blk = HnswWriteTagPages(st, bs->n, tagEntry, &ta);
	}

	st->entry_id = bs->entry == HNSW_NO_NODE ? HNSW_NO_NODE : newid[bs->entry];
	st->entry_level = bs->entry_level;
	st->node_count = bs->n;
	st->node_capacity = npages * st->nodes_per_page;
	st->nruns = npages > 0 ? 1 : 0;
	st->runs[0].first_id = 0;
	st->runs[0].start = 1;
	st->runs[0].npages = npages;

	buf = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	meta = HnswPageGetMeta(BufferGetPage(buf));
	HnswFillMeta(st, BufferGetPage(buf));
	meta->upper_blk = upper_pages != NIL ? next_upper : InvalidBlockNumber;
	if (st->item_refs)
		HnswMetaItems(meta)->item_blk = nitem_pages > 0 ?
			refs[bs->n - 1].blk : InvalidBlockNumber;
	HnswSetMetaLower(BufferGetPage(buf));
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);

	if (RelationNeedsWAL(index))
		log_newpage_range(index, MAIN_FORKNUM, 0, RelationGetNumberOfBlocks(index), true);
}

