/*
 * topk.h
 *	  The planner hook that gives each partition of a top-k query its own
 *	  LIMIT (see topk.c).
 */
#ifndef VECTOR_TOPK_H
#define VECTOR_TOPK_H

extern bool vec_partition_topk;
extern void VecInstallTopK(void);

#endif							/* VECTOR_TOPK_H */
