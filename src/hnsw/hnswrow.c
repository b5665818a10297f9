/*
 * hnswrow.c
 *	  A node's indexed values as its heap row has them, read as the executor
 *	  would read them.
 *
 * Two callers need the values an index entry stands for, from its row
 * rather than the node: a scan on codes ranks its candidates by exact
 * distance (hnswscan.c, deliver), and vector_index_check compares each
 * node's code and filter values with its row's (hnswcheck.c).  Both must
 * see what the executor sees: the row version the snapshot sees along a
 * HOT chain, and index expressions evaluated as FormIndexDatum does.
 *
 * A read resets the previous row's state first (its slot, so its buffer
 * pin, and the temporary context), so values stay valid until the next
 * read; a caller that calls functions on them switches into
 * HnswRowContext, whose allocations go with the row.
 */
#include "compat.h"

#include "access/tableam.h"
#include "catalog/index.h"
#include "executor/executor.h"
#include "utils/memutils.h"

#include "hnsw.h"

struct HnswRowReader
{
	Relation	heap;
	Snapshot	snapshot;
	IndexFetchTableData *fetch;
	TupleTableSlot *slot;
	IndexInfo  *ii;
	EState	   *estate;
	ExprContext *econtext;
	MemoryContext tmp;			/* one row's detoasted values, expression results */
};

/*
 * Read the rows of heap that index's entries point to, under snapshot.
 * Allocated in the current memory context; HnswRowEnd releases the pin.
 */
HnswRowReader *
HnswRowBegin(Relation heap, Relation index, Snapshot snapshot)
{
	HnswRowReader *r = palloc0(sizeof(HnswRowReader));

	r->heap = heap;
	r->snapshot = snapshot;
	r->ii = BuildIndexInfo(index);
	r->estate = CreateExecutorState();
	r->econtext = GetPerTupleExprContext(r->estate);
	r->slot = table_slot_create(heap, NULL);
	r->econtext->ecxt_scantuple = r->slot;
	r->fetch = table_index_fetch_begin(heap);
	r->tmp = AllocSetContextCreate(CurrentMemoryContext, "hnsw heap row", ALLOCSET_DEFAULT_SIZES);
	return r;
}

/* where a caller's work on the values of the row read last belongs */
MemoryContext
HnswRowContext(HnswRowReader *r)
{
	return r->tmp;
}

/* drop the row read last: its pin, its values */
static void
rowRelease(HnswRowReader *r)
{
	ExecClearTuple(r->slot);
	ResetExprContext(r->econtext);
	MemoryContextReset(r->tmp);
}

/*
 * The index's key values of the row at tid, in values and isnull (one
 * element per key column), valid until the next read.  False when the
 * snapshot sees no version of the row: the executor would skip it too.
 */
bool
HnswRowRead(HnswRowReader *r, const ItemPointerData *tid, Datum *values, bool *isnull)
{
	ItemPointerData found = *tid;
	bool		call_again = false;
	bool		all_dead = false;
	MemoryContext old;

	rowRelease(r);

	/*
	 * The fetch moves the TID it is given to the version it found along a
	 * HOT chain, so it gets a copy: a scan must hand the executor the
	 * chain's root, the TID the index holds (a fetch that starts at a
	 * heap-only tuple finds nothing, and the row would vanish).
	 */
	if (!table_index_fetch_tuple(r->fetch, &found, r->snapshot, r->slot, &call_again, &all_dead))
		return false;
	old = MemoryContextSwitchTo(r->tmp);
	FormIndexDatum(r->ii, r->slot, r->estate, values, isnull);
	MemoryContextSwitchTo(old);
	return true;
}

void
HnswRowEnd(HnswRowReader *r)
{
	if (r == NULL)
		return;
	rowRelease(r);
	table_index_fetch_end(r->fetch);
	ExecDropSingleTupleTableSlot(r->slot);
	FreeExecutorState(r->estate);
	MemoryContextDelete(r->tmp);
	pfree(r);
}
