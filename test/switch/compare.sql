-- test/switch/compare.sql: :want and :got are two phases of the results
-- table.  One line per table: probes' ranks in all, and how many of them
-- have the distance the other phase has at that rank (rounding aside).
\pset tuples_only on
\pset format unaligned
SELECT w.tbl || ' ' || count(*) || ' ' ||
	count(*) FILTER (WHERE g.dist IS NOT NULL AND abs(g.dist - w.dist) <= 1e-5 * greatest(1, abs(w.dist)))
FROM results w
	LEFT JOIN results g ON g.phase = :'got' AND (g.tbl, g.col, g.op, g.qid, g.rank) = (w.tbl, w.col, w.op, w.qid, w.rank)
WHERE w.phase = :'want'
GROUP BY w.tbl ORDER BY w.tbl;
SELECT 'duplicates ' || count(*) FROM (
	SELECT 1 FROM results WHERE phase = :'got' GROUP BY tbl, col, op, qid, id HAVING count(*) > 1) d;
