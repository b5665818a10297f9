/*
 * hnswrerank.c
 *	  Exact distances of a scan's candidates on codes, from their heap rows.
 *
 * On codes (format version 2) the walk knows only an estimate of each
 * distance and a lower bound of it.  Handing the bounds to the executor
 * (xs_recheckorderby) lets it re-rank in its queue, but it emits a row only
 * once the index has handed out a bound above the row's distance.  The
 * bounds are worst-case ones, and with 1 bit at 1,536 dimensions most rows
 * of the table have a bound below the tenth distance: with
 * hnsw.iterative_scan on, the executor then asked for batch after batch
 * until it had read nearly every row (an unfiltered LIMIT 10 on 20,000
 * rows took 186 ms instead of 1), and strict_order, dropping every row
 * whose bound fell below one handed out, came back short.
 *
 * So the scan computes each candidate's distance itself, from the row the
 * executor would fetch (the same snapshot; index expressions evaluated as
 * FormIndexDatum does) with the ORDER BY operator's own function, so the
 * value is bit for bit the one ORDER BY sorts on.  It fetches candidates
 * in the order of their bounds and hands out a row once no bound still to
 * come is below its distance, which is what the executor did, and within
 * one batch the rows come out exactly ordered, as they do on vectors.  The
 * heap rows read are the ones the executor read before for its re-check.
 */
#include "compat.h"

#include "access/relscan.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "executor/executor.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "hnsw.h"

struct HnswRerank
{
	Relation	heap;
	Snapshot	snapshot;
	IndexFetchTableData *fetch;
	TupleTableSlot *slot;
	IndexInfo  *ii;
	EState	   *estate;
	ExprContext *econtext;
	FmgrInfo   *fn;				/* the ORDER BY operator's function */
	Oid			collation;
	MemoryContext tmp;			/* one row's detoasted value */
};

/*
 * Set up exact distances for scan, or return NULL where they cannot be had
 * (no heap relation, or a snapshot that is not MVCC: a row could have
 * several visible versions); the scan then hands out bounds, as before.
 * Allocated in the current memory context, which must outlive every
 * rescan; HnswRerankEnd releases the buffer pins.
 */
HnswRerank *
HnswRerankBegin(IndexScanDesc scan)
{
	HnswRerank *r;
	ScanKey		key = &scan->orderByData[0];

	if (scan->heapRelation == NULL || scan->xs_snapshot == InvalidSnapshot ||
		!IsMVCCSnapshot(scan->xs_snapshot) || !OidIsValid(key->sk_func.fn_oid))
		return NULL;
	r = palloc0(sizeof(HnswRerank));
	r->heap = scan->heapRelation;
	r->snapshot = scan->xs_snapshot;
	r->fn = &key->sk_func;
	r->collation = key->sk_collation;
	r->ii = BuildIndexInfo(scan->indexRelation);
	r->estate = CreateExecutorState();
	r->econtext = GetPerTupleExprContext(r->estate);
	r->slot = table_slot_create(r->heap, NULL);
	r->econtext->ecxt_scantuple = r->slot;
	r->fetch = table_index_fetch_begin(r->heap);
	r->tmp = AllocSetContextCreate(CurrentMemoryContext, "hnsw rerank row",
								   ALLOCSET_DEFAULT_SIZES);
	return r;
}

/*
 * The distance of the row at tid from query (the ORDER BY argument, as the
 * operator takes it), in *dist, or NULL (*isnull).  False when the snapshot
 * sees no version of the row: the executor would skip it too.
 */
bool
HnswRerankDistance(HnswRerank *r, const ItemPointerData *tid, Datum query, double *dist,
				   bool *isnull)
{
	ItemPointerData found = *tid;
	bool		call_again = false;
	bool		all_dead = false;
	Datum		values[INDEX_MAX_KEYS];
	bool		nulls[INDEX_MAX_KEYS];
	MemoryContext old;

	/*
	 * The fetch moves the TID it is given to the version it found along a
	 * HOT chain, so it gets a copy: the executor must be handed the chain's
	 * root, the TID the index holds (a fetch that starts at a heap-only
	 * tuple finds nothing, and the row would vanish from the results).
	 */
	if (!table_index_fetch_tuple(r->fetch, &found, r->snapshot, r->slot, &call_again, &all_dead))
		return false;
	ResetExprContext(r->econtext);
	old = MemoryContextSwitchTo(r->tmp);
	FormIndexDatum(r->ii, r->slot, r->estate, values, nulls);
	*isnull = nulls[0];
	*dist = nulls[0] ? 0 : DatumGetFloat8(FunctionCall2Coll(r->fn, r->collation, values[0], query));
	MemoryContextSwitchTo(old);
	MemoryContextReset(r->tmp);
	ExecClearTuple(r->slot);
	return true;
}

void
HnswRerankEnd(HnswRerank *r)
{
	if (r == NULL)
		return;
	table_index_fetch_end(r->fetch);
	ExecDropSingleTupleTableSlot(r->slot);
	FreeExecutorState(r->estate);
	MemoryContextDelete(r->tmp);
	pfree(r);
}
