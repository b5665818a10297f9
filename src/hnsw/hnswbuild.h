/*
 * hnswbuild.h
 *	  What the files of CREATE INDEX share, and nothing else includes: the
 *	  build state, the shared state of a parallel build, and the entry
 *	  points between the graph building (hnswbuildgraph.c), the one-pass
 *	  write (hnswbuildwrite.c), the parallel orchestration
 *	  (hnswbuildparallel.c) and the build itself (hnswbuild.c).
 */
#ifndef VECTOR_HNSWBUILD_H
#define VECTOR_HNSWBUILD_H

#include "access/parallel.h"
#include "storage/condition_variable.h"
#include "storage/lwlock.h"
#include "storage/spin.h"

#include "hnsw.h"


/* parallel build: how many LWLocks guard the node lists */
#define HNSW_BUILD_STRIPES	1024

/*
 * Of maintenance_work_mem, what a parallel build keeps for everything but
 * the shared graph (pgvector's figure, so that a parallel build outgrows
 * memory, and says so, where pgvector's does).
 */
#define HNSW_PARALLEL_RESERVE	((Size) 3 * 1024 * 1024)

/* HnswShared.spill: where a parallel build's rows go */
#define HNSW_SPILL_NONE			0	/* into the shared graph */
#define HNSW_SPILL_ASKED		1	/* graph full: everyone stops, the leader writes it */
#define HNSW_SPILL_WRITTEN		2	/* on disk, through HnswInsertItem */

/* shared state of a parallel build, in the DSM segment */
typedef struct HnswShared
{
	Oid			heaprelid;
	Oid			indexrelid;
	bool		isconcurrent;
	uint32		cap;			/* nodes the arrays hold */
	uint64		arena_words;	/* uint32 words in the upper-list arena */
	uint64		vitems_bytes;	/* bytes in the item arena (variable-length
								 * items; else 0) */
	int			tranche_id;
	pg_atomic_uint32 n;			/* next node id */
	pg_atomic_uint64 arena_used;
	pg_atomic_uint64 vitems_used;	/* bytes handed out of the item arena */
	pg_atomic_uint32 spill;		/* HNSW_SPILL_* */
	ConditionVariable spill_cv; /* the counts below, and spill, changed */
	slock_t		mutex;			/* protects the counts and sums below */
	int			nactive;		/* participants still scanning */
	int			nparked;		/* of them, waiting for the graph to be written */
	double		reltuples;
	double		indtuples;
	LWLock		entry_lock;		/* protects entry, entry_level */
	uint32		entry;
	int			entry_level;
	LWLock		stripes[HNSW_BUILD_STRIPES];
} HnswShared;

/* DSM table-of-contents keys */
#define HNSW_KEY_SHARED		UINT64CONST(0xA000000000000001)
#define HNSW_KEY_SCAN		UINT64CONST(0xA000000000000002)
#define HNSW_KEY_ITEMS		UINT64CONST(0xA000000000000003)	/* or item_off[] */
#define HNSW_KEY_LINKS0		UINT64CONST(0xA000000000000004)
#define HNSW_KEY_NLINKS0	UINT64CONST(0xA000000000000005)
#define HNSW_KEY_LEVELS		UINT64CONST(0xA000000000000006)
#define HNSW_KEY_TIDS		UINT64CONST(0xA000000000000007)
#define HNSW_KEY_UPPER		UINT64CONST(0xA000000000000008)
#define HNSW_KEY_DUPNEXT	UINT64CONST(0xA000000000000009)
#define HNSW_KEY_ARENA		UINT64CONST(0xA00000000000000A)
#define HNSW_KEY_VITEMS		UINT64CONST(0xA00000000000000B)
#define HNSW_KEY_CENTRE		UINT64CONST(0xA00000000000000C)	/* with codes: dim floats */
#define HNSW_KEY_FILTERS	UINT64CONST(0xA00000000000000D)	/* with filter columns */

PGDLLEXPORT void HnswParallelBuildMain(dsm_segment *seg, shm_toc *toc);

typedef struct HnswBuildState
{
	/*
	 * st: the graph in memory, on the stored items of the type, or with
	 * codes (format version 2) on bundles.  The pages' geometry then
	 * differs: disk (codes true) is the state the write and the inserts
	 * after a spill use.
	 */
	HnswState	st;
	HnswState	disk;
	bool		codes;
	/*
	 * With codes, the graph in memory holds bundles (hnswcodes.c), coded
	 * around centre (the median of a sample, a pass over the table before the
	 * build); newbundle and qbuf are the row being inserted.
	 */
	float	   *centre;
	char	   *newbundle;
	void	   *qbuf;
	Relation	heap;
	double		reltuples;		/* heap rows seen */
	double		indtuples;		/* rows indexed */
	MemoryContext tmpCtx;		/* per tuple */
	char	   *itembuf;		/* one item, for the callback */
	pg_prng_state prng;			/* levels: fixed seed, repeatable builds */
	bool		spilled;		/* graph written; inserting on disk */

	/*
	 * The in-memory graph.  Node i's item is at items + i * item_size; for
	 * variable-length items (st.item_refs) at vitems + item_off[i] instead,
	 * packed in MAXALIGN'd chunks into an arena of vitems_cap bytes
	 * (serial: palloc'd, vitems_used of them taken; parallel: in the DSM
	 * segment, shared->vitems_used taken).
	 */
	uint32		n;
	uint32		cap;
	uint32		limit;			/* most nodes maintenance_work_mem holds */
	char	   *items;
	uint64	   *item_off;
	char	   *vitems;
	Size		vitems_used;
	Size		vitems_cap;
	Size		budget;			/* maintenance_work_mem, in bytes */
	double		node_cost;		/* bytes per node besides its item */
	uint32	   *links0;			/* 2m per node */
	uint16	   *nlinks0;
	uint8	   *levels;
	ItemPointerData *tids;
	char	   *filters;		/* with filter columns: filter_size bytes per node */
	uint32	   *filterbuf;		/* the callback's row's filter values */
	uint64	   *upper;			/* per node: offset in arena of levels x
								 * (count, m links); 0 = none */
	uint32	   *dup_next;		/* duplicate chains (README.md, "Duplicates") */
	uint32	   *arena;			/* upper lists */
	uint64		arena_cap;		/* words (serial; shared->arena_words) */
	uint64		arena_used;		/* words (serial) */
	uint32		entry;
	int			entry_level;

	/* parallel build: shared state, and the stripes guarding node lists */
	HnswShared *shared;
	LWLock	   *locks;

	/* search scratch, reused by every insert */
	HnswVisited visited;
	HnswHeap	cands;
	HnswHeap	results;
	HnswSource	src;
	HnswInserter ins;			/* HnswInsertNode on the in-memory graph */
} HnswBuildState;


/* levels[] value of a chained duplicate: written as level 0, flag DUP */
#define HNSW_BUILD_DUP		HNSW_WALK_DUP

#define BuildDiskState(bs)	((bs)->codes ? &(bs)->disk : &(bs)->st)
#define FixedItem(bs, id)	((bs)->items + (Size) (id) * (bs)->st.item_size)
#define VarItem(bs, id)		((bs)->vitems + (bs)->item_off[id])
#define BuildItem(bs, id)	((bs)->item_off ? VarItem(bs, id) : FixedItem(bs, id))
#define BuildLinks0(bs, id) ((bs)->links0 + (Size) (id) * 2 * (bs)->st.m)
#define BuildFilter(bs, id) ((uint32 *) ((bs)->filters + (Size) (id) * (bs)->st.filter_size))
#define BuildUpper(bs, id, level) \
	((bs)->arena + (bs)->upper[id] + ((level) - 1) * ((bs)->st.m + 1))

/* hnswbuildgraph.c */
extern Size HnswBuildNodeBytes(const HnswState *st);
extern void HnswBuildGrow(HnswBuildState *bs);
extern uint32 *HnswBuildLinks(HnswBuildState *bs, uint32 id, int level, uint32 *count);
extern void HnswBuildInitParticipant(HnswBuildState *bs, uint32 nodes);
extern bool HnswBuildInsert(HnswBuildState *bs, const char *item, const uint32 *filter,
							ItemPointer tid);
extern void HnswBuildRepairReach(HnswBuildState *bs);

/* hnswbuildwrite.c */
extern void HnswBuildWrite(HnswBuildState *bs);

/* hnswbuildparallel.c */
extern bool HnswBuildParallel(HnswBuildState *bs, Relation heap, Relation index,
							  IndexInfo *indexInfo, int nworkers);
extern void HnswBuildParallelSpill(HnswBuildState *bs);

/* hnswbuild.c */
extern void HnswBuildInitStates(HnswBuildState *bs, Relation index);
extern void HnswBuildInitCodes(HnswBuildState *bs, const float *centre);
extern void HnswBuildSpill(HnswBuildState *bs);
extern void HnswBuildCallback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
							  bool tupleIsAlive, void *state);

#endif							/* VECTOR_HNSWBUILD_H */
