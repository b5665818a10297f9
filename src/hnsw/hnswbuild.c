/*
 * hnswbuild.c
 *	  CREATE INDEX: the graph is built in memory (bounded by
 *	  maintenance_work_mem), then written in one sequential pass and
 *	  WAL-logged as whole pages.  When the graph outgrows memory, what was
 *	  built is written out and the remaining rows go through the ordinary
 *	  on-disk insert path.
 *
 *	  With max_parallel_maintenance_workers, the graph lives in dynamic
 *	  shared memory and the leader and the workers insert into it together,
 *	  each scanning part of the heap; node lists are guarded by striped
 *	  LWLocks, and variable-length items go to an arena in the same
 *	  segment.  A parallel build whose graph would mostly fit in memory,
 *	  but not all of it, builds serially instead; otherwise, when the shared
 *	  graph fills, every participant stops, the leader writes the graph, and
 *	  all of them go on inserting on disk (README.md).
 *
 *	  This file is the entry points (ambuild, ambuildempty), the heap scan's
 *	  callback and the spill; the graph is hnswbuildgraph.c, the write
 *	  hnswbuildwrite.c, the workers hnswbuildparallel.c.
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


/* ---------------------------------------------------------------- build */

/* A fresh metapage at block 0 of fork; returns it pinned and locked. */
static Buffer
initMetaPage(HnswState *st, ForkNumber fork)
{
	Buffer		buf = ReadBufferExtended(st->index, fork, P_NEW, RBM_NORMAL, NULL);
	Page		page;
	HnswMetaPage meta;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	Assert(BufferGetBlockNumber(buf) == HNSW_METAPAGE_BLKNO);
	page = BufferGetPage(buf);
	HnswInitPage(page, HNSW_PAGE_META);
	meta = HnswPageGetMeta(page);
	HnswFillMeta(st, page);
	meta->upper_blk = InvalidBlockNumber;
	if (st->item_refs)
		HnswMetaItems(meta)->item_blk = InvalidBlockNumber;
	HnswSetMetaLower(page);
	MarkBufferDirty(buf);
	return buf;
}

/*
 * The build's states (HnswBuildState.st and disk).  With codes the graph
 * in memory is built on bundles (hnswcodes.c): st takes their size and
 * their distance, disk the geometry of the pages.
 */
void
HnswBuildInitStates(HnswBuildState *bs, Relation index)
{
	HnswInitState(&bs->st, index);
	bs->codes = bs->st.bits != 0;
	if (bs->codes)
	{
		bs->disk = bs->st;
		HnswSetFloatGeometry(&bs->st);
		bs->st.item_size = bs->st.item_max = HnswBundleSize(&bs->disk);
		bs->st.walk_size = bs->st.item_size;
		bs->st.dist = HnswBundleDist;
		bs->st.gdim = bs->disk.gdim;
	}
}

/*
 * The codec of a build with codes, around centre; in the memory context of
 * bs, which outlives the build's graph (the inserts after a spill use it).
 */
void
HnswBuildInitCodes(HnswBuildState *bs, const float *centre)
{
	MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(bs));

	bs->centre = palloc(sizeof(float) * bs->disk.dim);
	memcpy(bs->centre, centre, sizeof(float) * bs->disk.dim);
	HnswCodesInit(&bs->disk, bs->centre);
	bs->newbundle = palloc(bs->st.item_size);
	bs->qbuf = HnswQueryAlloc(&bs->disk);
	MemoryContextSwitchTo(old);
}

/*
 * The centre pass: a uniform sample of the rows' floats (reservoir
 * sampling, with a fixed seed so that a build is repeatable).
 */
typedef struct CentreAcc
{
	HnswState  *st;
	float	   *sample;			/* cap rows of dim floats */
	int			cap;
	int			n;				/* rows in the sample */
	double		seen;			/* rows offered */
	char	   *item;
	pg_prng_state prng;
	MemoryContext tmp;
} CentreAcc;

static void
centreCallback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *state)
{
	CentreAcc  *acc = (CentreAcc *) state;
	MemoryContext old;

	if (isnull[0])
		return;
	old = MemoryContextSwitchTo(acc->tmp);
	if (VecIndexValueToItem(acc->st->ops, acc->st->metric, acc->st->dim, values[0], acc->item))
	{
		int			slot = -1;

		acc->seen++;
		if (acc->n < acc->cap)
			slot = acc->n++;
		else
		{
			double		r = pg_prng_double(&acc->prng) * acc->seen;

			if (r < acc->cap)
				slot = (int) r;
		}
		if (slot >= 0)
			HnswItemFloats(acc->st, acc->item, acc->sample + (Size) slot * acc->st->dim);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(acc->tmp);
}

static int
floatCompare(const void *a, const void *b)
{
	float		x = *(const float *) a;
	float		y = *(const float *) b;

	return x < y ? -1 : x > y;
}

/*
 * The centre of the codes: the coordinate-wise median of a sample of the
 * rows (normalised first under cosine), from a pass over the table of its
 * own before the build, since the graph is built on codes from the first
 * row on.  A median, not the mean: one row of 1e30s would move a mean so
 * far that every other row's code, made around it, would carry an error
 * larger than the distances between rows, and the walk would be blind.
 * The sample is up to 1,000 rows (at most 16 MB).
 */
static void
computeCentre(HnswBuildState *bs, Relation heap, Relation index, IndexInfo *indexInfo)
{
	CentreAcc	acc;
	int			dim = bs->disk.dim;
	float	   *centre = palloc(sizeof(float) * dim);
	float	   *col;

	acc.st = &bs->disk;
	acc.cap = (int) Max(1, Min(1000, (16 * 1024 * 1024) / (sizeof(float) * dim)));
	acc.sample = palloc_extended(sizeof(float) * dim * acc.cap, MCXT_ALLOC_HUGE);
	acc.n = 0;
	acc.seen = 0;
	acc.item = palloc0(acc.st->item_max);
	pg_prng_seed(&acc.prng, 0x43454E54);
	acc.tmp = AllocSetContextCreate(CurrentMemoryContext, "Hnsw centre pass",
									ALLOCSET_DEFAULT_SIZES);
	(void) table_index_build_scan(heap, index, indexInfo, true, false, centreCallback, &acc, NULL);
	col = palloc(sizeof(float) * Max(acc.n, 1));
	for (int j = 0; j < dim; j++)
	{
		for (int i = 0; i < acc.n; i++)
			col[i] = acc.sample[(Size) i * dim + j];
		qsort(col, acc.n, sizeof(float), floatCompare);
		centre[j] = acc.n == 0 ? 0.0f :
			acc.n % 2 ? col[acc.n / 2] : (col[acc.n / 2 - 1] + col[acc.n / 2]) / 2;
	}
	HnswBuildInitCodes(bs, centre);
	MemoryContextDelete(acc.tmp);
	pfree(acc.sample);
	pfree(acc.item);
	pfree(col);
	pfree(centre);
}

void
HnswBuildSpill(HnswBuildState *bs)
{
	/* full because the index may not have more nodes, not for memory */
	if (bs->n >= HnswMaxNodes(BuildDiskState(bs)))
		HnswTooManyNodes(BuildDiskState(bs));
	ereport(NOTICE,
			(errmsg("hnsw graph no longer fits into maintenance_work_mem after %.0f tuples",
					bs->indtuples),
			 errdetail("Building will take significantly more time."),
			 errhint("Increase maintenance_work_mem to speed up builds.")));
	HnswBuildWrite(bs);
	bs->spilled = true;
}

void
HnswBuildCallback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			  bool tupleIsAlive, void *state)
{
	HnswBuildState *bs = (HnswBuildState *) state;
	HnswState  *st = &bs->st;
	MemoryContext old;

	bs->reltuples++;
	if (isnull[0])
		return;

	old = MemoryContextSwitchTo(bs->tmpCtx);
	if (VecIndexValueToItem(st->ops, st->metric, st->dim, values[0], bs->itembuf))
	{
		if (st->nfilters > 0)
			HnswFilterForm(st, values, isnull, bs->filterbuf);
		if (!bs->spilled)
		{
			if (bs->shared == NULL)
			{
				if (!HnswBuildInsert(bs, bs->itembuf, bs->filterbuf, tid))
					HnswBuildSpill(bs);
			}
			/* a parallel build whose shared graph is full spills together */
			else if (pg_atomic_read_u32(&bs->shared->spill) != HNSW_SPILL_NONE ||
					 !HnswBuildInsert(bs, bs->itembuf, bs->filterbuf, tid))
				HnswBuildParallelSpill(bs);
		}
		if (bs->spilled)
			HnswInsertItem(BuildDiskState(bs), bs->itembuf,
						   st->nfilters > 0 ? bs->filterbuf : NULL, tid,
						   HnswRandomLevel(st->m, pg_prng_double(&bs->prng)));
		bs->indtuples++;
		if (((uint64) bs->indtuples & 63) == 0 && !IsParallelWorker())
			pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->indtuples);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(bs->tmpCtx);
}

/* ---------------------------------------------------------------- build */

IndexBuildResult *
hnswbuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
	HnswBuildState *bs = palloc0(sizeof(HnswBuildState));
	HnswState  *st = &bs->st;
	HnswState  *dst;
	HnswOptions *opts = (HnswOptions *) index->rd_options;
	IndexBuildResult *result;
	MemoryContext graphCtx;
	MemoryContext old;
	Size		budget = (Size) maintenance_work_mem * 1024;
	int			nworkers;

	HnswBuildInitStates(bs, index);
	dst = BuildDiskState(bs);
	/* with codes, only the code and the links need fit a page */
	st->dim = VecIndexCheckDims(index, st->ops, "hnsw",
								bs->codes ? VEC_HNSW_MAX_CODES_DIM : st->ops->hnsw_max_dim);
	if (opts && opts->bits > 0 && !bs->codes)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("hnsw option bits is not supported for this operator class"),
				 errdetail("Codes serve vector and halfvec columns under L2, inner product and cosine distance.")));
	if (opts && opts->rerank_bits > 0 && !bs->codes)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("hnsw option rerank_bits requires codes"),
				 errdetail("A re-ranking code sits beside the code the graph is walked on."),
				 errhint("Set bits as well, on a vector or halfvec column under L2, inner product or cosine distance.")));
	if (opts && opts->rerank_bits > 0 && dst->rerank_bits == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hnsw option rerank_bits must be greater than bits"),
				 errdetail("The index walks on %d-bit codes.", dst->bits)));
	if (st->ef_construction < 2 * st->m)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ef_construction must be greater than or equal to 2 * m")));
	if (dst->nodes_per_page < 1 && bs->codes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("hnsw node of %zu bytes does not fit in a page", dst->node_size),
				 dst->rerank_bits > 0 ?
				 errdetail("A node holds %d-bit and %d-bit codes of %d dimensions and %d neighbour links.",
						   dst->bits, dst->rerank_bits, st->dim, 2 * st->m) :
				 errdetail("A node holds a %d-bit code of %d dimensions and %d neighbour links.",
						   dst->bits, st->dim, 2 * st->m),
				 dst->rerank_bits > 0 ? errhint("Reduce m, bits or rerank_bits.") :
				 errhint("Reduce m or bits.")));
	if (dst->nodes_per_page < 1)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("hnsw node of %zu bytes does not fit in a page", st->node_size),
				 errdetail("A node holds a %d-dimensional %s and %d neighbour links.",
						   st->dim, st->ops->name, 2 * st->m),
				 errhint("Reduce m or the number of dimensions.")));
	/* an out-of-line item must fit on one item page */
	if (st->item_refs &&
		MAXALIGN(HnswItemTupleSize(st->item_max)) + sizeof(ItemIdData) > HNSW_ITEM_PAGE_SPACE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("hnsw item of %zu bytes does not fit in a page", st->item_max)));

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE);
	UnlockReleaseBuffer(initMetaPage(dst, MAIN_FORKNUM));
	if (bs->codes)
		computeCentre(bs, heap, index, indexInfo);

	bs->heap = heap;
	bs->entry = HNSW_NO_NODE;
	bs->entry_level = -1;
	/* a node costs HnswBuildNodeBytes plus about 1/(m-1) upper levels */
	bs->node_cost = HnswBuildNodeBytes(st) + (sizeof(uint32) * (st->m + 1)) / (st->m - 1) + 1;
	bs->budget = budget;
	bs->limit = (uint32) Min((double) HnswMaxNodes(dst), budget / bs->node_cost);
	bs->limit = Max(bs->limit, 1);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_LOAD);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
								 (int64) Max(heap->rd_rel->reltuples, 0));

	nworkers = VecBuildWorkers(heap, index);
	graphCtx = AllocSetContextCreate(CurrentMemoryContext, "Hnsw build graph",
									 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(graphCtx);
	if (nworkers == 0 || !HnswBuildParallel(bs, heap, index, indexInfo, nworkers))
	{
		pg_prng_seed(&bs->prng, 0x484E5357);
		HnswBuildGrow(bs);
		bs->arena_cap = 1024;
		bs->arena_used = 1;		/* offset 0 means "none" */
		bs->arena = palloc_extended(sizeof(uint32) * bs->arena_cap, MCXT_ALLOC_HUGE);
		if (st->item_refs)
		{
			bs->vitems_cap = 65536;
			bs->vitems = palloc_extended(bs->vitems_cap, MCXT_ALLOC_HUGE);
		}
		HnswBuildInitParticipant(bs, bs->cap);
		bs->reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
											   HnswBuildCallback, bs, NULL);
		if (!bs->spilled)
		{
			HnswBuildRepairReach(bs);
			HnswBuildWrite(bs);
		}
	}
	MemoryContextSwitchTo(old);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->indtuples);

	MemoryContextDelete(graphCtx);

	result = palloc(sizeof(IndexBuildResult));
	result->heap_tuples = bs->reltuples;
	result->index_tuples = bs->indtuples;
	return result;
}

/* The init fork of an unlogged index: an empty metapage. */
void
hnswbuildempty(Relation index)
{
	HnswState	st;
	Buffer		buf;

	HnswInitState(&st, index);
	buf = initMetaPage(&st, INIT_FORKNUM);
	log_newpage_buffer(buf, true);
	UnlockReleaseBuffer(buf);
}

