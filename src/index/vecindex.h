/*
 * vecindex.h
 *	  What the hnsw and ivfflat access methods share: reaching the type and
 *	  metric through the opclass, the dimension check, opclass validation
 *	  and relation extension.  Each AM keeps its own page formats.
 */
#ifndef VECTOR_VECINDEX_H
#define VECTOR_VECINDEX_H

#include "compat.h"

#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "storage/bufmgr.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

#include "typeops.h"

/*
 * Does page have our layout: a special space of exactly opaque_size bytes
 * (MAXALIGNed) at the end, and sane pd_lower/pd_upper?  Checked first, before
 * the special space is read: on a page of another layout (a zeroed page,
 * another AM's, random bytes) pd_special may point anywhere.  Each AM then
 * checks its page id and type.  A few compares, once per page read.
 */
static inline bool
VecPageLayoutIs(Page page, Size opaque_size)
{
	PageHeader	ph = (PageHeader) page;

	return ph->pd_special == BLCKSZ - MAXALIGN(opaque_size) &&
		ph->pd_lower >= SizeOfPageHeaderData && ph->pd_lower <= ph->pd_upper &&
		ph->pd_upper <= ph->pd_special;
}

/* Support function numbers, the same in every opclass of both AMs. */
#define VEC_DISTANCE_PROC			1	/* the SQL distance function */
#define VEC_TYPE_SUPPORT_PROC		3	/* returns the VecTypeOps */

/* The type ops and metric of an index's opclass. */
extern const VecTypeOps *VecIndexTypeOps(Relation index, VecMetric *metric);

/*
 * The index column's dimensions (its typmod), or an error naming the AM
 * when the column has none or more than maxdim.
 */
extern int	VecIndexCheckDims(Relation index, const VecTypeOps *ops, const char *amname,
							  int maxdim);

/* A datum's dimensions must be the index's: error otherwise. */
extern void VecIndexCheckValueDims(const VecTypeOps *ops, Datum value, int dim);

/*
 * A row's (non-NULL) value as a stored item in dst: detoasted, its
 * dimensions checked against the index's.  False when the value is not
 * indexed (a zero vector under cosine).
 */
extern bool VecIndexValueToItem(const VecTypeOps *ops, VecMetric metric, int dim, Datum value,
								void *dst);

struct PlannerInfo;
struct IndexPath;

extern bool VecCostStart(struct PlannerInfo *root, struct IndexPath *path, double loop_count,
						 Cost *indexStartupCost, Cost *indexTotalCost,
						 Selectivity *indexSelectivity, double *indexCorrelation,
						 double *indexPages, double *ntuples, double *random_page_cost);

/*
 * Cost of a distance kernel over dim dimensions (for sparsevec: non-zeros),
 * and of fetching a value of so many bytes from TOAST when it is stored out
 * of line (0 when it stays in the row); see veccost.c.
 */
extern double VecKernelCost(const VecTypeOps *ops, double dim);
extern double VecDetoastCost(double bytes);

extern void VecScanInitOrderBy(IndexScanDesc scan, int norderbys);
extern void VecScanSetKeys(IndexScanDesc scan, ScanKey keys, ScanKey orderbys);
extern void VecScanCheckOrderBy(IndexScanDesc scan, const char *amname);

/* An IndexAmRoutine with the properties both AMs share; callbacks unset. */
extern IndexAmRoutine *VecIndexAmRoutine(void);

/*
 * The error for an index file that is not in the AM's format (another
 * layout, a damaged metapage, another format version): XX002, REINDEX hint.
 */
extern void VecIndexNotValid(Relation index, const char *amname, const char *detail) pg_attribute_noreturn();

/*
 * A scan's query (the ORDER BY argument), detoasted, with the index's
 * dimensions; and written as a stored item (a zero query under cosine,
 * which has no direction, as an L2 item: every item is then as near).
 */
extern Datum VecScanQueryValue(const VecTypeOps *ops, int dim, Datum arg);
extern void VecScanQueryItem(const VecTypeOps *ops, VecMetric metric, Datum value, void *dst);

/* A new page at the end of the relation, pinned and exclusively locked. */
extern Buffer VecIndexNewBuffer(Relation index, ForkNumber fork);

/* GenericXLogStart, without a malloc and free per record (see vecindex.c). */
extern GenericXLogState *VecXLogStart(Relation index);

/* amvalidate for an opclass of either AM (see vecindex.c for the rules). */
extern bool VecIndexValidate(Oid opclassoid, const char *amname, bool filters);

/* vecparallel.c: the DSM segment of a parallel build */
typedef struct VecShmChunk
{
	uint64		key;
	Size		size;
} VecShmChunk;

struct ParallelContext;
extern int	VecBuildWorkers(Relation heap, Relation index);
extern struct ParallelContext *VecBeginParallel(const char *entry, Relation heap,
												struct IndexInfo *indexInfo, int nworkers,
												uint64 scan_key, const VecShmChunk *chunks,
												int nchunks, Snapshot *snapshot);
extern void VecEndParallel(struct ParallelContext *pcxt, Snapshot snapshot);

/* vector_index_check(): where each AM's walk reports what it finds */
typedef struct VecCheck
{
	struct Tuplestorestate *store;
	struct TupleDescData *desc;
	int			nproblems;
	BlockNumber heap_blocks;	/* heap TIDs must point below this */
	Relation	heap;			/* the indexed table */
	int			search_ef;		/* hnsw: look each live node up at this ef; 0: no */
} VecCheck;

extern void VecCheckProblem(VecCheck *c, const char *fmt,...) pg_attribute_printf(2, 3);

/*
 * Each AM hands vector_index_check() its walk at load time, keyed by its
 * handler function, so that this layer names no AM and an access method
 * created under another name with the same handler is checked too.
 */
typedef void (*VecCheckRoutine) (Relation index, VecCheck *c);
extern void VecRegisterCheck(PGFunction handler, VecCheckRoutine check);

#endif							/* VECTOR_VECINDEX_H */
