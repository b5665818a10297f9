/*
 * filterquals.h
 *	  The planner hook that makes IN lists and boolean conditions on hnsw
 *	  filter columns index conditions before PostgreSQL 17 (filterquals.c).
 */
#ifndef VECTOR_FILTERQUALS_H
#define VECTOR_FILTERQUALS_H

extern void VecInstallFilterQuals(void);

#endif							/* VECTOR_FILTERQUALS_H */
