-- pgvector 0.8.2 -> pgvector 0.8.0, on the way to vector 0.1.1
-- (vector--0.8.0--0.1.1.sql).  pgvector's update scripts from 0.8.0 to
-- 0.8.7 change nothing but descriptions (COMMENT ON), and the next step
-- sets every description anew: a database of any pgvector 0.8.x has
-- 0.8.0's objects, and so this step has nothing to do.
\echo Use "ALTER EXTENSION vector UPDATE" to load this file. \quit
