-- Hamming and Jaccard distances on bit
\set SHOW_CONTEXT never
SELECT hamming_distance(B'111', B'001'), B'111' <~> B'001';
SELECT jaccard_distance(B'1111', B'0011'), B'1111' <%> B'0011';
SELECT jaccard_distance(B'0000', B'0000'), jaccard_distance(B'1000', B'0100'), jaccard_distance(B'1', B'1');
SELECT hamming_distance(B'111', B'00');
SELECT jaccard_distance(B'111', B'00');
SELECT B'111' <~> B'00';
-- long strings hit every kernel tail: compare with a bit-by-bit count
SELECT n, hamming_distance(a, b) = (SELECT count(*) FROM generate_series(0, n - 1) i WHERE get_bit(a, i) <> get_bit(b, i)) AS hamming_ok,
  abs(jaccard_distance(a, b) - (1 - (SELECT count(*) FROM generate_series(0, n - 1) i WHERE get_bit(a, i) = 1 AND get_bit(b, i) = 1)::float8
    / NULLIF((SELECT count(*) FROM generate_series(0, n - 1) i WHERE get_bit(a, i) = 1 OR get_bit(b, i) = 1), 0))) < 1e-12 AS jaccard_ok
FROM (SELECT n, string_agg(CASE WHEN (i * 7 + n) % 3 = 0 THEN '1' ELSE '0' END, '')::varbit AS a,
             string_agg(CASE WHEN (i * 5 + n) % 4 = 0 THEN '1' ELSE '0' END, '')::varbit AS b
      FROM generate_series(1, 1100, 37) n, generate_series(1, n) i GROUP BY n) s
ORDER BY n LIMIT 5;
SELECT count(*) AS mismatches
FROM (SELECT n, string_agg(CASE WHEN (i * 7 + n) % 3 = 0 THEN '1' ELSE '0' END, '')::varbit AS a,
             string_agg(CASE WHEN (i * 5 + n) % 4 = 0 THEN '1' ELSE '0' END, '')::varbit AS b
      FROM generate_series(1, 1100, 37) n, generate_series(1, n) i GROUP BY n) s
WHERE hamming_distance(a, b) <> (SELECT count(*) FROM generate_series(0, n - 1) i WHERE get_bit(a, i) <> get_bit(b, i));
