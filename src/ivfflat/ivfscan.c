/*
 * ivfscan.c
 *	  Index scans: ORDER BY col <op> const, nearest first.
 *
 * The scan orders the lists by their centroid's distance to the query
 * (a heap, so only the lists probed are ever sorted), reads the nearest
 * ivfflat.probes lists, scoring each page's records in one batch call, and
 * hands the rows out of a min-heap of (distance, TID).  With
 * ivfflat.iterative_scan = relaxed_order, when the executor wants more rows
 * than those lists held (a filter rejected them), the scan reads the next
 * ivfflat.probes lists, and so on until ivfflat.max_probes lists were read:
 * each batch is in distance order, the whole output nearly so.
 */
#include "compat.h"

#include <float.h>
#include <math.h>

#include "access/relscan.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "ivfflat.h"
#include "vecheap.h"

typedef struct IvfCand
{
	float		dist;
	ItemPointerData tid;
} IvfCand;

typedef struct IvfListDist
{
	float		dist;
	uint32		list;
} IvfListDist;

typedef struct IvfScanOpaqueData
{
	IvfState	st;
	MemoryContext cxt;			/* everything below; reset by rescan */
	bool		started;
	char	   *query;			/* the query as a stored item */
	bool		query_null;		/* ORDER BY col <op> NULL: distances are NULL */
	IvfListDist *lists;			/* min-heap of the lists not read yet */
	int			nlists;
	BlockNumber nblocks;		/* index size, as far as IvfCheckBlock knows */
	int			probed;			/* lists read so far */
	int			maxprobes;		/* lists this scan may read */
	int			probes;			/* lists a batch reads */
	IvfCand    *cands;			/* min-heap of rows not returned yet */
	int			ncands;
	int			capcands;
	const void **ptrs;			/* scratch for one page's batch */
	float	   *dists;
} IvfScanOpaqueData;

typedef IvfScanOpaqueData *IvfScanOpaque;

/* ---------------------------------------------------------------- heaps */

/*
 * Distance a before b: NaN (an inner product whose terms overflow float,
 * Infinity less Infinity) after every number, as ORDER BY sorts it.  With
 * a plain < every comparison with a NaN is false, the heap's order breaks
 * around it, and rows came out of order (a list holding 30 such rows among
 * 300: some rows came after farther ones, and NaN rows among the first).
 */
#define DIST_BEFORE(a, b) ((a) < (b) || (isnan(b) && !isnan(a)))

#define CAND_ABOVE(x, y) DIST_BEFORE((x)->dist, (y)->dist)

/*
 * Lists of equal score come out lowest number first, the one a row of that
 * score went to (IvfNearestList): with duplicate or equidistant centroids,
 * the first list probed is the one holding the rows equal to the query.
 */
#define LIST_ABOVE(x, y) (DIST_BEFORE((x)->dist, (y)->dist) || \
						  (!DIST_BEFORE((y)->dist, (x)->dist) && (x)->list < (y)->list))

static void
heapifyCands(IvfCand *a, int n)
{
	for (int i = n / 2 - 1; i >= 0; i--)
	{
		IvfCand		x = a[i];

		VEC_HEAP_SIFT_DOWN(CAND_ABOVE, a, n, i, &x);
	}
}

static void
heapifyLists(IvfListDist *a, int n)
{
	for (int i = n / 2 - 1; i >= 0; i--)
	{
		IvfListDist x = a[i];

		VEC_HEAP_SIFT_DOWN(LIST_ABOVE, a, n, i, &x);
	}
}

/* ---------------------------------------------------------------- scan */

IndexScanDesc
ivfbeginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	IvfScanOpaque so = palloc0(sizeof(IvfScanOpaqueData));

	IvfInitState(&so->st, index);
	VecScanInitOrderBy(scan, norderbys);
	so->cxt = AllocSetContextCreate(CurrentMemoryContext, "Ivfflat scan temporary context",
									ALLOCSET_DEFAULT_SIZES);
	scan->opaque = so;
	return scan;
}

void
ivfrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys)
{
	IvfScanOpaque so = (IvfScanOpaque) scan->opaque;

	VecScanSetKeys(scan, keys, orderbys);
	MemoryContextReset(so->cxt);
	so->started = false;
	so->nlists = so->ncands = so->capcands = so->probed = 0;
	so->lists = NULL;
	so->cands = NULL;
}

/*
 * Read one list: every record of every page into the candidates.  Returns
 * how many there were.
 */
static int
readList(IvfScanOpaque so, uint32 list)
{
	IvfState   *st = &so->st;
	IvfCache   *c = st->cache;
	BlockNumber blk = IvfReadTail(st, list, NULL);
	uint32		steps = 0;
	int			nread = 0;

	while (BlockNumberIsValid(blk))
	{
		Buffer		buf;
		Page		page;
		int			n;

		IvfCheckBlock(st->index, blk, &so->nblocks);
		buf = ReadBuffer(st->index, blk);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		IvfCheckListPage(st->index, page, blk, steps++);
		n = Min(IvfPageCount(page, c->rec_size), c->recs_per_page);
		if (so->ncands + n > so->capcands)
		{
			so->capcands = Max(so->capcands * 2, so->ncands + Max(n, 1024));
			so->cands = so->cands == NULL ?
				MemoryContextAllocHuge(so->cxt, sizeof(IvfCand) * so->capcands) :
				repalloc_huge(so->cands, sizeof(IvfCand) * so->capcands);
		}
		for (int i = 0; i < n; i++)
			so->ptrs[i] = IvfRecItem(IvfPageRec(page, c->rec_size, i));
		st->batch(so->query, so->ptrs, n, c->dim, so->dists);
		for (int i = 0; i < n; i++)
		{
			IvfCand    *cand = &so->cands[so->ncands++];

			cand->dist = so->dists[i];
			cand->tid = IvfPageRec(page, c->rec_size, i)->heaptid;
		}
		nread += n;
		blk = IvfPageGetOpaque(page)->prev;
		UnlockReleaseBuffer(buf);
		CHECK_FOR_INTERRUPTS();
	}
	return nread;
}

/*
 * Read the next batch of lists; false when there are none left to read.
 * A list with no rows does not count as a probe: the scan reads on to the
 * next nearest, so that probes = 1 never answers from an empty list while
 * rows sit in others (an empty list costs one page read).
 */
static bool
probeMore(IvfScanOpaque so)
{
	int			n = Min(so->probes, so->maxprobes - so->probed);
	int			got = 0;

	if (n <= 0 || so->nlists == 0)
		return false;
	so->ncands = 0;
	while (got < n && so->nlists > 0)
	{
		uint32		list = so->lists[0].list;

		/* readList checks per page; an empty list has none */
		CHECK_FOR_INTERRUPTS();
		{
			IvfListDist last = so->lists[--so->nlists];

			VEC_HEAP_SIFT_DOWN(LIST_ABOVE, so->lists, so->nlists, 0, &last);
		}
		if (readList(so, list) > 0)
		{
			got++;
			so->probed++;
		}
	}
	heapifyCands(so->cands, so->ncands);
	return true;
}

static void
startScan(IndexScanDesc scan)
{
	IvfScanOpaque so = (IvfScanOpaque) scan->opaque;
	IvfState   *st = &so->st;
	IvfCache   *c;
	ScanKey		key = &scan->orderByData[0];
	MemoryContext old;
	Datum		value;
	float	   *cdists;

	so->started = true;
	VecScanCheckOrderBy(scan, "ivfflat");
	/* idx_scan in pg_stat_user_indexes, as every index counts its scans */
	pgstat_count_index_scan(scan->indexRelation);

	old = MemoryContextSwitchTo(so->cxt);
	IvfLoadCache(st);
	c = st->cache;
	so->query = palloc0(st->item_size);
	/*
	 * ORDER BY col <-> NULL: every distance is NULL, and a sequential scan
	 * returns the rows in any order.  The index returns them too, probing
	 * as if the query were the zero vector (a zero-filled item).
	 */
	so->query_null = (key->sk_flags & SK_ISNULL) != 0;
	if (!so->query_null)
	{
		value = VecScanQueryValue(st->ops, st->dim, key->sk_argument);
		VecScanQueryItem(st->ops, st->metric, value, so->query);
	}

	/* fixed for the scan: a cursor must not see the settings change */
	so->probes = Min(ivf_probes, (int) c->nlists);
	so->maxprobes = ivf_iterative_scan == IVF_ITERATIVE_OFF ? so->probes :
		Max(so->probes, Min(ivf_max_probes, (int) c->nlists));

	/*
	 * Rank the lists by the very scores rows were assigned by (so a query
	 * equal to a row probes that row's list first); only inner product,
	 * whose lists are formed by L2, ranks them by its own metric.
	 */
	cdists = palloc_array(float, c->nlists);
	if (st->list_metric == st->metric)
		IvfListScores(st, so->query, cdists);
	else
		st->batch(so->query, c->centroid_ptrs, c->nlists, c->dim, cdists);
	so->lists = palloc_array(IvfListDist, c->nlists);
	for (uint32 i = 0; i < c->nlists; i++)
	{
		so->lists[i].dist = cdists[i];
		so->lists[i].list = i;
	}
	so->nlists = c->nlists;
	heapifyLists(so->lists, so->nlists);
	so->ptrs = palloc_array(const void *, c->recs_per_page);
	so->dists = palloc_array(float, c->recs_per_page);
	MemoryContextSwitchTo(old);

	probeMore(so);
}

bool
ivfgettuple(IndexScanDesc scan, ScanDirection dir)
{
	IvfScanOpaque so = (IvfScanOpaque) scan->opaque;

	if (!so->started)
		startScan(scan);

	for (;;)
	{
		if (so->ncands > 0)
		{
			IvfCand		top = so->cands[0];

			IvfCand		last = so->cands[--so->ncands];

			VEC_HEAP_SIFT_DOWN(CAND_ABOVE, so->cands, so->ncands, 0, &last);
			scan->xs_heaptid = top.tid;
			scan->xs_recheck = false;
			scan->xs_recheckorderby = false;
			scan->xs_orderbyvals[0] = Float8GetDatum(VecSqlDistance(so->st.metric, top.dist));
			scan->xs_orderbynulls[0] = so->query_null;
			return true;
		}
		if (so->query == NULL || !probeMore(so))
			return false;
	}
}

void
ivfendscan(IndexScanDesc scan)
{
	IvfScanOpaque so = (IvfScanOpaque) scan->opaque;

	MemoryContextDelete(so->cxt);
	pfree(so);
	scan->opaque = NULL;
}
