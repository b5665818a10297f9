/*
 * hnswscan.c
 *	  Index scans: ORDER BY col <op> const, nearest first.
 *
 * The first batch is the paper's search with ef = hnsw.ef_search.  With
 * hnsw.iterative_scan on, every scored node that did not make a batch is
 * kept, and when the executor wants more rows (because a filter rejected
 * them), the search resumes from those nodes and the unexpanded frontier
 * to produce the next batch of ef_search, until hnsw.max_scan_tuples nodes
 * were scored or the scan's memory passes work_mem times
 * hnsw.scan_mem_multiplier.  From then on the search stops, and the nodes
 * already scored but not yet returned come out, nearest first, until none
 * is left.  Batches are each in distance order; under
 * strict_order a row nearer than one already returned is dropped, so the
 * whole output is in order, and under relaxed_order it is returned.  On
 * codes the walk knows only estimates, and a batch's rows are ranked by
 * the exact distances of their heap rows (deliver, exactReady).
 */
#include "compat.h"

#include <float.h>
#include <math.h>

#include "access/relscan.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "hnsw.h"
#include "vecheap.h"

/* A row whose exact distance was read from the heap (deliver), waiting its turn. */
typedef struct HnswExact
{
	double		dist;
	uint8		tier;			/* 0 a number, 1 NaN, 2 NULL: ORDER BY's order */
	uint32		seq;			/* fetch order: ties come out as fetched */
	ItemPointerData tid;
} HnswExact;

typedef struct HnswScanOpaqueData
{
	HnswState	st;
	MemoryContext cxt;			/* everything below; reset by rescan */
	bool		started;
	bool		done;
	bool		limited;		/* a scan limit was reached: only drain pending */
	char	   *query;			/* the query as a stored item */
	bool		query_null;		/* ORDER BY col <op> NULL: distances are NULL */
	HnswSource	src;
	HnswFilter *filter;			/* the conditions on filter columns, or NULL */
	bool		exact;			/* the filter's rows were all scored: one batch */
	uint8	   *may;			/* with a filter: the ids that may match (HnswFilterCandidates) */
	uint32		nmaycount;		/* how many */
	HnswVisited visited;
	HnswHeap	cands;			/* unexpanded frontier (min-first) */
	HnswHeap	results;		/* the batch being searched (max-first) */
	HnswHeap	pending;		/* scored, not yet in a batch (min-first) */
	HnswCand   *batch;			/* current batch, sorted */
	int			nbatch;
	int			ibatch;
	float		last_dist;		/* for strict_order */
	uint32		chain;			/* next duplicate to return, or HNSW_NO_NODE */
	Buffer		chain_buf;		/* pin on the chain head's page during the walk */
	float		chain_dist;
	uint32		chain_len;		/* duplicates returned from this chain */
	uint64		chain_stamp;	/* stamp of the member read last (HnswDupStamp) */
	int			ef;
	int			mode;			/* hnsw.iterative_scan when the scan began */

	/* on codes: exact distances from the heap (deliver) */
	MemoryContext outer;		/* the scan's own context, outliving rescans */
	bool		rerank_tried;
	HnswRowReader *rows;		/* NULL: hand out bounds for the executor to re-check */
	Datum		query_value;	/* the ORDER BY argument, detoasted */
	HnswExact  *exq;			/* rows fetched, min-heap on (dist, seq) */
	int			nexq;
	int			exq_cap;
	uint32		exq_seq;
	double		last_exact;		/* for strict_order */
	double		horizon;		/* the batch's farthest estimate, as ORDER BY has it */
	double		over;			/* the most an estimate exceeded its distance */
	float		chain_est;		/* the chain head's estimate */
	bool		final;			/* no batch comes after this one */
} HnswScanOpaqueData;

typedef HnswScanOpaqueData *HnswScanOpaque;

IndexScanDesc
hnswbeginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	HnswScanOpaque so = palloc0(sizeof(HnswScanOpaqueData));

	HnswInitState(&so->st, index);
	so->outer = CurrentMemoryContext;
	so->chain = HNSW_NO_NODE;
	so->chain_buf = InvalidBuffer;
	VecScanInitOrderBy(scan, norderbys);
	/* small blocks: a scan keeps a few heaps and a hash, not many chunks */
	so->cxt = AllocSetContextCreate(CurrentMemoryContext, "Hnsw scan temporary context",
									ALLOCSET_DEFAULT_SIZES);
	scan->opaque = so;
	return scan;
}

/*
 * The walk along a duplicate chain is over: drop the pin on its head's page
 * (see startChain).
 */
static void
endChain(HnswScanOpaque so)
{
	so->chain = HNSW_NO_NODE;
	if (BufferIsValid(so->chain_buf))
		ReleaseBuffer(so->chain_buf);
	so->chain_buf = InvalidBuffer;
}

void
hnswrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;

	VecScanSetKeys(scan, keys, orderbys);
	MemoryContextReset(so->cxt);
	so->st.codes = NULL;		/* it was in so->cxt */
	so->filter = NULL;			/* so was this */
	so->may = NULL;
	so->exact = false;
	so->started = false;
	so->done = false;
	so->limited = false;
	endChain(so);
	so->nbatch = so->ibatch = 0;
	so->exq = NULL;				/* in so->cxt */
	so->nexq = so->exq_cap = 0;
}

/*
 * What the batch is sorted by: a row's distance, or with codes the lower
 * bound of it (hnswcodes.c).  The scan reads the candidates' exact
 * distances in this order (deliver) and hands a row out once no bound
 * still to come is below its distance.  Without an MVCC snapshot it hands
 * out the bounds themselves, for the executor to re-check and re-rank in
 * its queue, which emits a row on the same condition; those bounds always
 * hold.
 *
 * Reading rows itself, from HNSW_PROBABLE_MIN_DIM dimensions on, the scan
 * uses probable bounds instead: the estimate less hnsw_probable_sigmas (4)
 * of its standard error (rbq_estimate_sigma).  Bounds that always hold
 * lie about 30 standard errors below the estimate at 1,536 dimensions, so
 * that even a LIMIT 1 read about 40 rows of an ef_search 80 batch
 * (glove-1536, 1 bit); this way it reads a few.  The estimate's error is
 * close to normal there: on glove-1536, fashion-mnist-784 and sift-128 at
 * 1 to 4 bits its standard deviation is 0.89 to 0.98 of
 * rbq_estimate_sigma (0.7 at 8 bits), and 2 in 100,000 errors exceed 4 of
 * it.  A row whose bound was wrong is read after a farther one went out;
 * it is then dropped (hnswgettuple), as a row the walk missed would be, so
 * the rows always come in order.  The exact paths of a filter (exactScan),
 * which promise every row, keep the bounds that always hold.
 */
static inline float
candKey(const HnswScanOpaque so, const HnswCand *c)
{
	return so->st.bits != 0 ? c->lower : c->dist;
}

static int
lowerCompare(const void *a, const void *b)
{
	const HnswCand *x = a;
	const HnswCand *y = b;

	if (x->lower != y->lower)
		return x->lower < y->lower ? -1 : 1;
	return HnswCandCompare(a, b);
}

/*
 * Sort a batch for handing out: on codes by lower bound, which a
 * re-ranking code first tightens (README.md, "Re-ranking codes"), so that
 * the rows read before a batch's first row can go out are few.
 */
static void
sortBatch(HnswScanOpaque so)
{
	if (so->st.rerank_bits > 0 && !so->query_null)
		HnswDiskRerank(&so->st, so->query, so->batch, so->nbatch);
	qsort(so->batch, so->nbatch, sizeof(HnswCand),
		  so->st.bits != 0 ? lowerCompare : HnswCandCompare);
}

/* Sort the finished search's results into the batch to hand out. */
static void
takeBatch(HnswScanOpaque so)
{
	so->nbatch = so->results.n;
	so->ibatch = 0;
	memcpy(so->batch, so->results.items, sizeof(HnswCand) * so->nbatch);
	sortBatch(so);
	so->results.n = 0;
}

/*
 * With a filter, the walk scores only nodes that may match, so that it
 * costs about what an unfiltered one does: ef_search expansions of up to
 * 2m scored neighbours each (and the lists of the neighbours it skips).
 * When fewer nodes than that may match, scoring them all is cheaper, and
 * exact.
 */
static uint32
exactLimit(HnswScanOpaque so)
{
	return (uint32) so->ef * 3 * so->st.m;
}

/*
 * Score every node in ids[0..n) (NULL: every id set in so->may) and hand
 * out those that match, live or leading a chain, in one batch in order.
 */
static void
exactScan(HnswScanOpaque so, const uint32 *ids, uint32 n)
{
	HnswState  *st = &so->st;
	HnswSource	src;
	uint32		chunk[2 * HNSW_MAX_M];
	uint32		next = 0;
	uint32		nchunk;

	HnswDiskSourceInit(&src, st);
	src.filter = so->filter;
	if (so->rows != NULL)
		HnswQueryBounds(so->query, HNSW_BOUNDS_EXACT);
	so->batch = palloc_extended(sizeof(HnswCand) * Max(n, 1), MCXT_ALLOC_HUGE);
	so->nbatch = 0;
	so->ibatch = 0;
	do
	{
		nchunk = 0;
		if (ids)
		{
			while (nchunk < lengthof(chunk) && next < n)
				chunk[nchunk++] = ids[next++];
		}
		else
		{
			for (; nchunk < lengthof(chunk) && next < st->node_count; next++)
				if (so->may[next >> 3] & (1 << (next & 7)))
					chunk[nchunk++] = next;
		}
		if (nchunk == 0)
			break;
		{
			HnswCand   *scored = so->batch + so->nbatch;

			/* scored in place, then the kept ones packed down (never past) */
			src.score(&src, so->query, chunk, nchunk, scored);
			for (uint32 i = 0; i < nchunk; i++)
				if (!scored[i].nomatch && !scored[i].deleted)
					so->batch[so->nbatch++] = scored[i];
		}
		CHECK_FOR_INTERRUPTS();
	} while (nchunk == lengthof(chunk));
	sortBatch(so);
}

/*
 * A scan with conditions on filter columns: find the nodes that may match
 * in the tag pages (hnswfilter.c).  Few: score them all, and the scan is
 * exact (returns true, the batch ready).  Else the walk scores only them
 * (HnswSearchLayer, through so->may).
 */
static bool
filterScan(HnswScanOpaque so)
{
	HnswState  *st = &so->st;
	uint32		limit = exactLimit(so);
	uint32	   *ids = palloc(sizeof(uint32) * (limit + 1));

	so->may = palloc_extended((st->node_count + 7) / 8 + 1, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	so->nmaycount = HnswFilterCandidates(st, so->filter, so->may, ids, limit + 1);
	if (so->nmaycount > limit)
	{
		pfree(ids);
		return false;
	}
	so->exact = true;
	exactScan(so, ids, so->nmaycount);
	pfree(ids);
	return true;
}

/*
 * The reader of exact distances for a scan on codes, or NULL where they
 * cannot be had: no heap relation, or a snapshot that is not MVCC (a row
 * could have several visible versions).  The scan then hands out bounds
 * for the executor to re-check, as before.
 */
static HnswRowReader *
rerankBegin(IndexScanDesc scan)
{
	if (scan->heapRelation == NULL || scan->xs_snapshot == InvalidSnapshot ||
		!IsMVCCSnapshot(scan->xs_snapshot) || !OidIsValid(scan->orderByData[0].sk_func.fn_oid))
		return NULL;
	return HnswRowBegin(scan->heapRelation, scan->indexRelation, scan->xs_snapshot);
}

/* Prepare the query and run the first search.  Sets done when empty. */
static void
startScan(IndexScanDesc scan)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;
	HnswState  *st = &so->st;
	ScanKey		key = &scan->orderByData[0];
	Datum		value;
	bool		iterative;

	/* fixed for the scan: a cursor must not see the setting change */
	so->mode = hnsw_iterative_scan;
	iterative = so->mode != HNSW_ITERATIVE_OFF;
	so->started = true;
	so->done = true;
	VecScanCheckOrderBy(scan, "hnsw");
	/* idx_scan in pg_stat_user_indexes, as every index counts its scans */
	pgstat_count_index_scan(scan->indexRelation);

	HnswLoadMeta(st);
	so->query_null = (key->sk_flags & SK_ISNULL) != 0;
	if (so->query_null)
	{
		/*
		 * ORDER BY col <-> NULL: every distance is NULL, and a sequential
		 * scan returns the rows in any order.  The index must return them
		 * too (it would otherwise return none, and a LIMIT query would come
		 * back short), so it walks as if the query were the zero vector: a
		 * zero-filled item is that for every type.
		 */
		so->query = palloc0(st->item_max);
		if (st->bits != 0)
		{
			void	   *qbuf = HnswQueryAlloc(st);

			HnswPrepareQuery(st, so->query, false, qbuf);
			so->query = qbuf;
		}
	}
	else
	{
		value = VecScanQueryValue(st->ops, st->dim, key->sk_argument);
		so->query_value = value;
		/* a query is never stored: it may have more elements than an item */
		so->query = palloc0(st->item_refs ? MAXALIGN(st->ops->datum_item_len(value)) : st->item_max);
		VecScanQueryItem(st->ops, st->metric, value, so->query);
		if (st->bits != 0)
		{
			void	   *qbuf = HnswQueryAlloc(st);

			HnswPrepareQuery(st, so->query, true, qbuf);
			so->query = qbuf;
		}
	}
	if (st->entry_id == HNSW_NO_NODE)
		return;

	/*
	 * Conditions on filter columns: the nodes that may match come from the
	 * tag pages; few are scored all (filterScan), else the walk scores
	 * only them, and those that fail after all (an entry never written)
	 * route it but are never results (HnswSearchLayer), so that ef_search
	 * counts matching rows.  A NULL or an empty IN list matches no row.
	 */
	so->filter = NULL;
	so->exact = false;
	so->ef = hnsw_ef_search;
	/* -Infinity is a distance (an inner product that overflows float) */
	so->last_dist = -get_float4_infinity();
	so->last_exact = -get_float8_infinity();
	so->exq_seq = 0;
	so->final = false;
	so->over = 0;
	if (st->bits != 0 && !so->query_null && !so->rerank_tried)
	{
		MemoryContext old = MemoryContextSwitchTo(so->outer);

		so->rows = rerankBegin(scan);
		so->rerank_tried = true;
		MemoryContextSwitchTo(old);
	}
	/* probable bounds for the rows' read order: see candKey */
	if (so->rows != NULL && hnsw_probable_sigmas > 0 && st->dim >= HNSW_PROBABLE_MIN_DIM)
		HnswQueryBounds(so->query, HNSW_BOUNDS_PROBABLE);
	if (scan->numberOfKeys > 0)
	{
		so->filter = HnswFilterFromKeys(st, scan->keyData, scan->numberOfKeys);
		if (so->filter->empty)
			return;

		/*
		 * A signature passes some rows the executor then rejects (for a
		 * one-element && on arrays of three or four random labels, 0.14 %
		 * of all rows; of eight or nine, 3 %): ef_search results could
		 * then leave a LIMIT short, so the walk goes on as
		 * hnsw.iterative_scan = strict_order does, for as long as rows are
		 * asked for.
		 */
		if (so->filter->signatures && so->mode == HNSW_ITERATIVE_OFF)
		{
			so->mode = HNSW_ITERATIVE_STRICT;
			iterative = true;
		}
		if (filterScan(so))
		{
			so->done = false;
			return;
		}
	}

	HnswDiskSourceInit(&so->src, st);
	so->src.filter = so->filter;
	so->src.may = so->may;
	so->src.nmay = st->node_count;
	if (so->may)
		HnswVisitedInitBits(&so->visited, st->node_count);
	else
		HnswVisitedInitHash(&so->visited, so->ef * 2 * st->m);
	HnswHeapInit(&so->cands, so->ef * 4, false);
	HnswHeapInit(&so->results, so->ef + 1, true);
	if (iterative)
		HnswHeapInit(&so->pending, so->ef * 4, false);
	so->batch = palloc_array(HnswCand, so->ef + 1);

	HnswSeedSearch(&so->src, so->query, st->entry_id, st->entry_level,
				   hnsw_test_upper_ef > 0 ? hnsw_test_upper_ef : so->ef,
				   &so->cands, &so->results, so->ef, &so->visited,
				   iterative ? &so->pending : NULL);
	HnswSearchLayer(&so->src, so->query, &so->cands, &so->results, so->ef, 0,
					&so->visited, iterative ? &so->pending : NULL);

	/*
	 * The walk over the nodes that may match ran out of nodes before it
	 * found ef of them: the filter's rows are not connected enough to be
	 * walked; score them all instead, if they are not too many.
	 */
	if (so->may && so->results.n < so->ef && so->nmaycount <= 8 * exactLimit(so))
	{
		so->exact = true;
		exactScan(so, NULL, so->nmaycount);
		so->done = so->nbatch == 0;
		return;
	}
	takeBatch(so);
	so->done = false;
}

/* A node the filter may match that the walk never visited: sweepUnvisited's. */
static inline bool
sweepWants(HnswScanOpaque so, uint32 id)
{
	return (so->may[id >> 3] & (1 << (id & 7))) &&
		!(id < so->visited.nbits && (so->visited.bits[id >> 6] & (UINT64CONST(1) << (id & 63))));
}

/*
 * A filtered walk follows the nodes that cannot match only two hops deep
 * (freshMay), so the nodes that may match need not all be connected through
 * what it walks.  When it has run out, score those it never reached, so
 * that an iterative scan that runs to its end returns every matching row
 * (7 rows matching among 60 at almost one distance, m 2, ef_search 1: 6
 * came back, under either order).  Within hnsw.max_scan_tuples.  Returns
 * whether a batch is ready.
 */
static bool
sweepUnvisited(HnswScanOpaque so)
{
	uint32		used = so->visited.used;
	uint32		budget = (uint32) hnsw_max_scan_tuples > used ?
		(uint32) hnsw_max_scan_tuples - used : 0;
	uint32	   *ids;
	uint32		n = 0;

	if (so->may == NULL || so->visited.bits == NULL || budget == 0)
		return false;
	/* counted first: the walk has usually reached all but a few */
	for (uint32 id = 0; id < so->st.node_count && n < budget; id++)
		n += sweepWants(so, id);
	if (n == 0)
		return false;
	ids = palloc_extended(sizeof(uint32) * n, MCXT_ALLOC_HUGE);
	for (uint32 id = 0, k = 0; k < n; id++)
		if (sweepWants(so, id))
			ids[k++] = id;
	so->exact = true;
	exactScan(so, ids, n);
	pfree(ids);
	return so->nbatch > 0;
}

/* Has the scan scored or allocated as much as it may? */
static bool
scanLimitReached(HnswScanOpaque so)
{
	Size		mem;
	double		memlimit = (double) work_mem * 1024.0 * hnsw_scan_mem_multiplier;

	if (so->visited.used >= (uint32) hnsw_max_scan_tuples)
		return true;
	/*
	 * A filtered walk's visited set is a bitmap of the index's size, fixed
	 * when the scan starts like so->may beside it: it is not what grows
	 * as the scan goes on, and counting it would stop every iterative scan
	 * of an index of some tens of millions of rows at its first batch.
	 */
	mem = (so->visited.bits ? 0 : HnswVisitedMemory(&so->visited)) +
		sizeof(HnswCand) * (so->cands.cap + so->pending.cap + so->results.cap);
	return (double) mem > memlimit;
}

/*
 * Resume the search for another batch: the ef nearest pending nodes seed
 * it, together with what is left of the frontier.  Once a scan limit is
 * reached, no more nodes are scored, but the pending ones are still handed
 * out, nearest first: they were paid for, and each search scores several
 * times more nodes than it returns (ef expansions of up to 2m links each),
 * so ending the scan there would return only a fraction of the
 * hnsw.max_scan_tuples nodes it scored, and a selective filter would get
 * far fewer rows than the limit allows.  Returns false when nothing is left.
 */
static bool
nextBatch(HnswScanOpaque so)
{
	if (so->mode == HNSW_ITERATIVE_OFF || so->exact)
		return false;
	if (!so->limited && scanLimitReached(so))
		so->limited = true;

	if (so->limited)
	{
		/* popped from a min-heap: already in distance order */
		so->nbatch = 0;
		so->ibatch = 0;
		while (so->pending.n > 0 && so->nbatch < so->ef)
			so->batch[so->nbatch++] = HnswHeapPop(&so->pending);
		if (so->st.bits != 0)
			sortBatch(so);
		return so->nbatch > 0;
	}

	if (so->pending.n == 0 && so->cands.n == 0)
		return sweepUnvisited(so);

	while (so->pending.n > 0 && so->results.n < so->ef)
	{
		HnswCand	c = HnswHeapPop(&so->pending);

		HnswHeapPush(&so->results, &c);
		HnswHeapPush(&so->cands, &c);
	}
	HnswSearchLayer(&so->src, so->query, &so->cands, &so->results, so->ef, 0,
					&so->visited, &so->pending);
	takeBatch(so);
	/* no result means the walk ran out (it stops only with results) */
	if (so->nbatch == 0)
		return sweepUnvisited(so);
	return true;
}

/* Hand tid to the executor, with its distance. */
static void
returnTuple(IndexScanDesc scan, ItemPointer tid, float dist)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;

	scan->xs_heaptid = *tid;
	/* hashed filter values (hnswfilter.c): the executor tests the row itself */
	scan->xs_recheck = so->filter != NULL && so->filter->lossy;
	/* with codes, dist is a lower bound: see candKey */
	scan->xs_recheckorderby = so->st.bits != 0 && !so->query_null;
	scan->xs_orderbyvals[0] = Float8GetDatum(VecSqlDistance(so->st.metric, dist));
	scan->xs_orderbynulls[0] = so->query_null;
}

/*
 * Begin the walk along the duplicate chain of candidate c, a head when it
 * was scored.  Its header is read again, under a pin on its page that the
 * scan keeps until the walk is over: VACUUM frees the slot of a member it
 * unlinked from a chain, or moves a member's row into a dead head, only
 * while it holds a cleanup lock on the head's page, so no member this walk
 * can still reach is freed meanwhile (README.md, "Reusing slots").  The
 * header read now is the one the walk starts from: its row may be a member
 * VACUUM moved into it since c was scored.  A slot freed and taken since by
 * a duplicate elsewhere leads no chain of ours, and is skipped; one taken
 * by a new graph node leads only rows newer than the scan.  Returns
 * whether the head's own row is to be returned, in *tid.
 */
static bool
startChain(HnswScanOpaque so, const HnswCand *c, ItemPointer tid)
{
	BlockNumber blk;
	int			slot;
	HnswNode	node;
	bool		live = false;

	HnswLocateNode(&so->st, c->id, &blk, &slot);
	so->chain_buf = ReadBuffer(so->st.index, blk);
	LockBuffer(so->chain_buf, BUFFER_LOCK_SHARE);
	HnswCheckPage(so->st.index, BufferGetPage(so->chain_buf), blk, HNSW_PAGE_NODE);
	node = HnswPageNode(BufferGetPage(so->chain_buf), &so->st, slot);
	if (!(node->flags & (HNSW_NODE_DUP | HNSW_NODE_FREE)))
	{
		so->chain = node->dup_next;
		live = !(node->flags & HNSW_NODE_DELETED);
		*tid = node->heaptid;
	}
	LockBuffer(so->chain_buf, BUFFER_LOCK_UNLOCK);
	so->chain_len = 0;
	so->chain_dist = candKey(so, c);
	so->chain_est = c->dist;
	/* every member the head led to when read is older than this */
	so->chain_stamp = RecoveryInProgress() ? GetXLogReplayRecPtr(NULL) : GetXLogInsertRecPtr();
	if (so->chain == HNSW_NO_NODE)
		endChain(so);
	return live;
}

static void
setHorizon(HnswScanOpaque so)
{
	float		far = -FLT_MAX;

	for (int i = 0; i < so->nbatch; i++)
		far = Max(far, so->batch[i].dist);
	so->horizon = so->nbatch > 0 ? VecSqlDistance(so->st.metric, far) : -DBL_MAX;
}

/*
 * (dist, seq) order, as float8 sorts: NaN (an overflowed inner product)
 * after every number, NULL last
 */
static inline bool
exactAbove(const HnswExact *a, const HnswExact *b)
{
	if (a->tier != b->tier)
		return a->tier < b->tier;
	if (a->dist != b->dist)
		return a->dist < b->dist;
	return a->seq < b->seq;
}

/*
 * Hand tid to the executor: at once with a bound, or, when the scan has
 * exact distances, into so->exq once its row is read (a row the snapshot
 * does not see is left out, as the executor would leave it).  The distance
 * is the ORDER BY operator's own function on the indexed value of the row
 * the executor would fetch, so it is bit for bit the one ORDER BY sorts on.
 * Returns whether the executor got a row now.
 */
static bool
deliver(IndexScanDesc scan, ItemPointer tid, float key, float est)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;
	ScanKey		order = &scan->orderByData[0];
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
	HnswExact	e;

	if (so->rows == NULL)
	{
		returnTuple(scan, tid, key);
		return true;
	}
	if (!HnswRowRead(so->rows, tid, values, isnull))
		return false;
	if (isnull[0])
	{
		e.dist = 0;
		e.tier = 2;
	}
	else
	{
		MemoryContext old = MemoryContextSwitchTo(HnswRowContext(so->rows));

		e.dist = DatumGetFloat8(FunctionCall2Coll(&order->sk_func, order->sk_collation,
												  values[0], so->query_value));
		MemoryContextSwitchTo(old);
		e.tier = isnan(e.dist) ? 1 : 0;
	}
	e.tid = *tid;
	e.seq = so->exq_seq++;
	if (e.tier == 0 && isfinite(e.dist) && isfinite(est))
		so->over = Max(so->over, VecSqlDistance(so->st.metric, est) - e.dist);
	if (so->nexq == so->exq_cap)
	{
		so->exq_cap = Max(64, 2 * so->exq_cap);
		so->exq = so->exq ? repalloc_huge(so->exq, sizeof(HnswExact) * so->exq_cap)
			: palloc(sizeof(HnswExact) * so->exq_cap);
	}
	so->nexq++;
	VEC_HEAP_SIFT_UP(exactAbove, so->exq, so->nexq - 1, &e);
	return false;
}

/*
 * May the nearest fetched row go out?  Yes once no row still to come in
 * this batch can be nearer: the next candidate's bound (or the chain's,
 * shared by its members) is not below its distance.  Once the batch is
 * done, a row goes if it lies within the batch's horizon, the distance up
 * to which the walk has looked (on vectors a batch holds just such rows):
 * the farthest estimate, less the most that any estimate of this scan
 * exceeded its row's distance, since a later batch's rows, estimated
 * beyond the horizon, can lie that much nearer.  A row beyond it waits for
 * the next batch.  Handing it out at once gave rows that later batches
 * undercut, dropped under strict_order (recall@10 0.52 with a 1 % filter,
 * glove-1536, 1 bit; 0.98 this way) and out of order under relaxed_order.
 * The worst-case bounds would be safe but far too wide: 1 bit at 1,536
 * dimensions then read most of the table.  After the last batch, every
 * row goes.
 */
static bool
exactReady(HnswScanOpaque so)
{
	const HnswExact *top = &so->exq[0];
	bool		later = so->mode != HNSW_ITERATIVE_OFF && !so->exact && !so->final;

	/* within what no later batch should undercut */
	if (later && !(top->tier == 0 && top->dist <= so->horizon - so->over))
		return false;
	/* and no row still to come in this batch can be nearer */
	if (so->chain != HNSW_NO_NODE)
		return top->tier == 0 && top->dist <= VecSqlDistance(so->st.metric, so->chain_dist);
	if (so->ibatch < so->nbatch)
		return top->tier == 0 &&
			top->dist <= VecSqlDistance(so->st.metric, candKey(so, &so->batch[so->ibatch]));
	return true;
}

static HnswExact
popExact(HnswScanOpaque so)
{
	HnswExact	top = so->exq[0];
	HnswExact	last = so->exq[--so->nexq];

	VEC_HEAP_SIFT_DOWN(exactAbove, so->exq, so->nexq, 0, &last);
	return top;
}

/*
 * Results come from the batch; after each node, the live members of its
 * duplicate chain, at the same distance.  A node whose own row is gone
 * still leads its chain.  With exact distances they go through so->exq.
 */
bool
hnswgettuple(IndexScanDesc scan, ScanDirection dir)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;
	MemoryContext old = MemoryContextSwitchTo(so->cxt);
	bool		found = false;

	if (!so->started)
	{
		startScan(scan);
		setHorizon(so);
	}

	while (!found && !so->done)
	{
		if (so->nexq > 0 && exactReady(so))
		{
			HnswExact	e = popExact(so);

			/*
			 * As on vectors: a row nearer than one handed out is dropped
			 * (strict_order; and with probable bounds, off: see candKey).
			 */
			if (so->mode != HNSW_ITERATIVE_RELAXED && e.tier == 0 && e.dist < so->last_exact)
				continue;
			if (e.tier == 0)
				so->last_exact = Max(so->last_exact, e.dist);
			scan->xs_heaptid = e.tid;
			scan->xs_recheck = so->filter != NULL && so->filter->lossy;
			scan->xs_recheckorderby = false;
			scan->xs_orderbyvals[0] = Float8GetDatum(e.dist);
			scan->xs_orderbynulls[0] = e.tier == 2;
			found = true;
		}
		else if (so->chain != HNSW_NO_NODE)
		{
			HnswNodeData hdr;
			uint64		stamp;

			/* a chain longer than the index has nodes loops: damage */
			if (++so->chain_len > so->st.node_count)
				ereport(ERROR,
						(errcode(ERRCODE_INDEX_CORRUPTED),
						 errmsg("index \"%s\" has a duplicate chain that loops",
								RelationGetRelationName(scan->indexRelation)),
						 errhint("REINDEX the index.")));
			stamp = HnswReadMember(&so->st, so->chain, &hdr);

			/*
			 * Not a member of a chain, or one newer than the member before
			 * it: a slot freed and taken since the link to it was read.
			 * Only a hot standby gets here (HnswDupStamp).
			 */
			if ((hdr.flags & (HNSW_NODE_DUP | HNSW_NODE_FREE)) != HNSW_NODE_DUP ||
				stamp > so->chain_stamp)
			{
				endChain(so);
				continue;
			}
			so->chain_stamp = stamp;
			so->chain = hdr.dup_next;
			if (so->chain == HNSW_NO_NODE)
				endChain(so);
			if (!(hdr.flags & HNSW_NODE_DELETED))
				found = deliver(scan, &hdr.heaptid, so->chain_dist, so->chain_est);
		}
		else if (so->ibatch < so->nbatch)
		{
			HnswCand   *c = &so->batch[so->ibatch++];
			ItemPointerData tid;

			if (so->rows == NULL)
			{
				if (so->mode == HNSW_ITERATIVE_STRICT && candKey(so, c) < so->last_dist)
					continue;
				so->last_dist = Max(so->last_dist, candKey(so, c));
			}
			if (c->dup_next != HNSW_NO_NODE)
			{
				if (startChain(so, c, &tid))
					found = deliver(scan, &tid, candKey(so, c), c->dist);
			}
			else if (!c->self_dead)
				found = deliver(scan, &c->tid, candKey(so, c), c->dist);
		}
		else
		{
			CHECK_FOR_INTERRUPTS();
			if (nextBatch(so))
				setHorizon(so);
			else if (so->nexq > 0)
				so->final = true;
			else
				so->done = true;
		}
	}
	MemoryContextSwitchTo(old);
	return found;
}

void
hnswendscan(IndexScanDesc scan)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;

	endChain(so);
	HnswRowEnd(so->rows);
	MemoryContextDelete(so->cxt);
	pfree(so);
	scan->opaque = NULL;
}
