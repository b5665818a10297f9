/*
 * hnswvacuum.h
 *	  What VACUUM's files share, and nothing else includes: the state of one
 *	  bulk delete and the entry points between its passes, 1 to 3
 *	  (hnswvacuum.c), 1b (hnswvacchain.c), and 4 and 5 (hnswreclaim.c).
 */
#ifndef VECTOR_HNSWVACUUM_H
#define VECTOR_HNSWVACUUM_H

#include "hnsw.h"

typedef struct HnswVacCache HnswVacCache;

typedef struct HnswVacuumState
{
	HnswState	st;
	HnswSource	src;
	uint8	   *deleted;		/* bitmap over node ids 0 .. nbits - 1 */
	uint32		nbits;			/* node_count when VACUUM began; frozen */
	uint32		ndeleted;
	uint32		best;			/* a live node of the highest level */
	int			best_level;
	char	   *baseitem;
	const void *basequery;		/* what searches for baseitem's neighbours score (HnswItemQuery) */
	void	   *qbuf;			/* room for it, and for one more */
	void	   *qbuf2;
	char	   *items;			/* scratch for candidate items */
	BufferAccessStrategy strategy;	/* VACUUM's ring, for the passes in block order */
	/* pass 2: the live nodes of one node page, copied out */
	uint32		page_cap;
	uint32	   *page_ids;
	int		   *page_levels;
	char	   *page_items;
	/* graph nodes that lead a duplicate chain, seen by pass 1 */
	uint32	   *heads;
	uint32		nheads;
	uint32		heads_cap;
	uint32		npromoted;		/* dead heads that took a member's row */
	HnswVacCache *cache;		/* pass 2's copy of the graph, or NULL */
} HnswVacuumState;

/*
 * Was id flagged (or found a chained duplicate) by this VACUUM?  The bitmap
 * covers the nodes there were when VACUUM began.  st.node_count cannot
 * bound it: every HnswLoadMeta (a search meeting a node added since)
 * raises it while concurrent inserts go on.  Nodes added after the start
 * are never deleted-by-this-VACUUM.
 */
#define IsDeleted(vs, id) \
	((id) < (vs)->nbits && ((vs)->deleted[(id) / 8] & (1 << ((id) % 8))))

/* hnswvaccache.c: the graph in memory for pass 2, when it fits */
extern bool HnswVacCacheLoad(HnswVacuumState *vs);
extern void HnswVacCacheRelease(HnswVacuumState *vs);

/* hnswvacchain.c: pass 1b */
extern void HnswUnlinkDeadMembers(HnswVacuumState *vs);

/* hnswreclaim.c: passes 4 and 5; returns the live nodes counted */
extern double HnswRepairReachability(HnswState *st, HnswSource *src, MemoryContext tmp,
									 BufferAccessStrategy strategy);

#endif							/* VECTOR_HNSWVACUUM_H */
