# hnsw with codes (format version 2, option bits): the index stores a
# RaBitQ code of each vector, walks the graph on the codes' distance
# estimates and hands the executor a lower bound of each row's distance
# (xs_recheckorderby), which re-ranks the rows exactly from the heap.  A
# bound above the exact distance makes the executor raise "index returned
# tuples in wrong order"; bounds handed out unsorted let rows come back out
# of order without an error; a code scored against the wrong query, made
# around the wrong centre or with the wrong rotation, loses recall.
#
# Every check is against a brute-force answer (a sequential scan's exact
# top 10, enable_indexscan off), and every index is first checked, with
# pageinspect, to be of format version 2 with its codes pages written, so
# that an option silently ignored (floats stored) cannot pass as codes.
#
# (a) Real data: the first 20,000 rows of sift-128, the 100 queries of its
#     query.fvecs.  bits 4 and bits 1 (m 16, ef_construction 64) on
#     vector_l2_ops, bits 4 on a halfvec column (halfvec_l2_ops) and on
#     vector_cosine_ops.  For every query, LIMIT 40: no error, 40 rows,
#     the distances selected alongside never decrease; recall@10 at
#     ef_search 40 at least a measured floor, and at ef_search 200 at least
#     0.99 for bits 4.
# (b) WAL: a streaming standby, wal_consistency_checking = 'all' (set on
#     the primary, as test 012 does; the standby takes its configuration
#     from the backup, and redo compares every page it rebuilds with the
#     full-page image the record carries).  CREATE INDEX WITH (bits = 2)
#     on 5,000 rows after the standby started, 2,000 rows in four
#     transactions, a third deleted, VACUUM, 1,000 more: the standby
#     returns the primary's top 10 for 20 queries, its log has no
#     "inconsistent page found", and vector_index_check() is clean on both.
# (c) Crash recovery: bits 4 on 5,000 rows, 1,800 rows in one committed
#     COPY and 200 single-row commits, 500 more in a transaction still
#     open, then an immediate shutdown (checkpoint_timeout is an hour, so
#     recovery replays the build and every insert).  After restart every
#     committed row is found by a k = 1 search for its own vector at
#     ef_search 200 (013's approach: all of them), the open transaction's
#     rows are gone, and after VACUUM vector_index_check() is clean.
# (d) Parallel builds: 30,000 rows, parallel_workers = 2 on the table,
#     bits 4.  In 256 MB: two workers, the participants indexed every row
#     between them, the graph stayed in memory, the check is clean, and
#     recall@10 at ef_search 100 is at least a measured floor.  Then 6,000
#     of the rows in 1 MB: the shared graph fills after 1,024 rows (the
#     NOTICE), the leader writes it with its codes pages, and the workers
#     and the leader insert the rest on disk, coding each row with the
#     codec the leader wrote: the same checks.
# (e) A wide column: vector(3072), 2,000 rows made from sift rows (each of
#     24 blocks of 128 a scaled copy of the row, plus seeded noise), no
#     options: the column is past vector's float limit (2,000), so the
#     index gets codes by itself, of 1 bit (the choice from 1,024
#     dimensions on).  Recall@10 at ef_search 100 at least a measured
#     floor, distances non-decreasing over LIMIT 40.
#
# The sections run in the order a, d, e, c on one node, then b on a
# primary and a standby of their own.  About 2 minutes on 2 cores.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use VectorTest;

my $dir = data_dir();
plan skip_all => 'no sift-128 data' unless defined $dir;

my $nbase = 37000;
my $base = read_vecs("$dir/sift-128/base.fvecs", $nbase);
my $qvecs = read_vecs("$dir/sift-128/query.fvecs", 100);
my $exact_settings = 'SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_seqscan = on';

my $node = PostgreSQL::Test::Cluster->new('codes');
$node->init;
$node->append_conf('postgresql.conf',
	# (wal_level minimal skips the WAL of an index made in the same
	# transaction, and the build then stays serial)
	"wal_level = replica\nshared_buffers = 256MB\nmaintenance_work_mem = 256MB\n"
	  . "max_parallel_workers_per_gather = 0\nautovacuum = off\n"
	  . "max_parallel_maintenance_workers = 0\nmax_worker_processes = 8\nmax_parallel_workers = 8\n"
	  # (c) replays everything since the build
	  . "checkpoint_timeout = '1h'\nmax_wal_size = '4GB'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION vector; CREATE EXTENSION pageinspect');
load_vectors($node, 'base', $base);
$node->safe_psql('postgres',
	"CREATE TABLE queries (qid int PRIMARY KEY, q vector(128));\n"
	  . join('', map { "INSERT INTO queries VALUES ($_, '" . vec_literal($qvecs->[$_]) . "');\n" } 0 .. $#$qvecs));

# ---------------------------------------------------------------- helpers

# What the index's pages say: version (metapage), node_size (metapage),
# codes (how many codes pages), codes_ok (the first codes page carries the
# magic, the column's dimensions and the number of codes pages).  Offsets:
# a page's contents start at byte 24; the metapage's with magic, version,
# dim, m, ef_construction, metric, nodes_per_page, node_size; the first
# codes page's with magic, dim, seed (8 bytes), npages.  A page's type is
# the first byte of its 8-byte special space (5: codes).
sub index_format
{
	my ($n, $index, $dim) = @_;
	my $u32 = sub {
		my ($o) = @_;
		return join(' + ', map { "get_byte(p, $o + $_)::bigint * " . (256**$_) } 0 .. 3);
	};
	my $meta = $n->safe_psql('postgres',
		"SELECT " . $u32->(28) . ", " . $u32->(44) . " FROM (SELECT get_raw_page('$index', 0) p) s");
	my ($version, $node_size) = split /\|/, $meta;
	my $codes = $n->safe_psql('postgres',
		"SELECT string_agg(b::text, ',' ORDER BY b) FROM generate_series(1, pg_relation_size('$index') / 8192 - 1) b "
		  . "WHERE get_byte(get_raw_page('$index', b::int), 8184) = 5");
	my @codes = split /,/, $codes;
	my $codes_ok = 0;
	if (@codes)
	{
		$codes_ok = $n->safe_psql('postgres',
			"SELECT (" . $u32->(24) . ") = 1213092695 AND (" . $u32->(28) . ") = $dim AND ("
			  . $u32->(40) . ") = " . scalar(@codes) . " FROM (SELECT get_raw_page('$index', $codes[0]) p) s") eq 't';
	}
	return { version => $version, node_size => $node_size, codes => scalar @codes, codes_ok => $codes_ok };
}

# The index is of format version 2 and CREATE INDEX wrote its codes pages:
# as many as the centre's floats take (2,034 after the first page's
# header, 2,040 on each page after it), each once, the first with the
# magic, the dimensions and that count.  Catches: the bits option or the
# automatic choice ignored, so that the index holds floats and everything
# below passes without a code in it (planted: bits = 0); a build that
# writes no centre, writes it twice (at a spill and again at the end), or
# one page short of a wide centre.
sub assert_codes
{
	my ($n, $index, $dim, $what) = @_;
	my $f = index_format($n, $index, $dim);
	my $pages = $dim <= 2034 ? 1 : 1 + int(($dim - 2034 + 2039) / 2040);
	is($f->{version}, 2, "$what: the index is of format version 2 (codes)");
	ok($f->{codes} == $pages && $f->{codes_ok},
		"$what: CREATE INDEX wrote the codes pages ($f->{codes} of $pages), the first with the magic, "
		  . "$dim dimensions and the count");
	return $f;
}

# vector_index_check re-codes each live row's heap vector and compares it
# with the node's code (planted by flipping the code bytes of 5 nodes in
# the file: it names them)
sub check_clean
{
	my ($n, $index, $what) = @_;
	is($n->safe_psql('postgres', "SELECT string_agg(p, '; ') FROM vector_index_check('$index') p"),
		'', "$what: vector_index_check finds nothing wrong");
	return;
}

# For each query of $qtable (qid, q): the $k rows of $table nearest to
# $qexpr under $op, in the order they came, with the distance selected
# alongside.  Runs through psql, not safe_psql, so that an error ("index
# returned tuples in wrong order") is returned and asserted, not a death.
# Returns { ret, err, ids => [[...] per query], d => [[...] per query] }.
sub knn_lists
{
	my ($n, %o) = @_;
	my ($table, $op, $k) = @o{qw(table op k)};
	my $qtable = $o{qtable} // 'queries';
	my $qexpr = $o{qexpr} // 'q.q';
	my $tie = $o{exact} ? ', id' : '';
	my $sql = "$o{settings};\n"
	  . "SELECT q.qid, x.id, x.d FROM $qtable q, LATERAL (SELECT id, d, row_number() OVER () AS n FROM "
	  . "(SELECT id, embedding $op $qexpr AS d FROM $table ORDER BY embedding $op $qexpr$tie LIMIT $k) s) x "
	  . "ORDER BY q.qid, x.n";
	my ($ret, $out, $err) = $n->psql('postgres', $sql);
	my $nq = $n->safe_psql('postgres', "SELECT count(*) FROM $qtable");
	my %r = (ret => $ret, err => $err, ids => [ map { [] } 1 .. $nq ], d => [ map { [] } 1 .. $nq ]);
	for my $line (split /\n/, $out // '')
	{
		my ($qid, $id, $d) = split /\|/, $line;
		push @{ $r{ids}[$qid] }, $id;
		push @{ $r{d}[$qid] }, $d;
	}
	return \%r;
}

# The exact top 10 by a sequential scan (ties by id).
sub exact_top10
{
	my ($n, %o) = @_;
	my $r = knn_lists($n, %o, k => 10, exact => 1, settings => $exact_settings);
	die "exact answers failed: $r->{err}" if $r->{ret};
	return $r->{ids};
}

# Through index $index at ef_search $ef: LIMIT 40 for every query, no
# error, 40 rows each, distances that never decrease; returns recall@10 of
# the first 10 rows against $truth.
#  - the error check catches a bound above the exact distance (the
#    executor raises "index returned tuples in wrong order"), e.g. a bound
#    that forgets the float rounding slack, or the factors of another
#    node's code (planted by adding 50 to the centre on the codes page in
#    the file, or by changing the rotation's seed there: the error);
#  - the order check catches bounds handed out unsorted within a batch
#    (rows then come back out of order silently) and a scan that returns
#    estimates, not bounds, without xs_recheckorderby;
#  - the row count catches a scan that stops early (e.g. candidates lost
#    when bounds and estimates disagree about which to keep).
sub check_scan
{
	my ($n, %o) = @_;
	my ($index, $ef, $truth, $what) = @o{qw(index ef truth what)};
	my $settings = "SET enable_seqscan = off; SET hnsw.ef_search = $ef";
	my $qtable = $o{qtable} // 'queries';
	my $qexpr = $o{qexpr} // 'q.q';
	my $plan = $n->safe_psql('postgres',
		"$settings; EXPLAIN (COSTS OFF) SELECT id FROM $o{table} ORDER BY embedding $o{op} "
		  . "(SELECT $qexpr FROM $qtable q LIMIT 1) LIMIT 40");
	like($plan, qr/Index Scan using $index /, "$what: the query is an index scan on $index") or diag($plan);
	my $r = knn_lists($n, %o, k => 40, settings => $settings);
	is($r->{ret}, 0, "$what: ef_search $ef: every query ran") or diag($r->{err});
	unlike($r->{err}, qr/wrong order/, "$what: ef_search $ef: no \"index returned tuples in wrong order\"");
	my @short = grep { @{ $r->{ids}[$_] } != 40 } 0 .. $#{ $r->{ids} };
	is(scalar @short, 0, "$what: ef_search $ef: 40 rows for every query")
	  or diag("short: @short[0 .. ($#short < 9 ? $#short : 9)]");
	my @unordered = grep {
		my $d = $r->{d}[$_];
		grep { $d->[$_] < $d->[ $_ - 1 ] } 1 .. $#$d
	} 0 .. $#{ $r->{d} };
	is(scalar @unordered, 0, "$what: ef_search $ef: the distances never decrease, for every query")
	  or diag("query $unordered[0]: " . join(' ', @{ $r->{d}[ $unordered[0] ] }));
	return recall_at([ map { [ @$_[ 0 .. ($#$_ < 9 ? $#$_ : 9) ] ] } @{ $r->{ids} } ], $truth);
}

sub participants
{
	my ($err) = @_;
	return [ $err =~ /hnsw build participant indexed (\d+) rows/g ];
}

sub sum { my $s = 0; $s += $_ for @_; return $s; }

my %ran;    # recall measured, for the report
sub floor_ok
{
	my ($r, $floor, $what) = @_;
	$ran{$what} = $r;
	return cmp_ok($r, '>=', $floor, sprintf('%s: recall@10 %.4f is at least %s', $what, $r, $floor));
}

# ---------------------------------------------------------------- (a) sift-128, 20,000 rows
# Recall floors: two to four points below what 4 runs measured.  A serial
# build draws its levels from a fixed seed, so its figures repeat exactly:
# at ef_search 40, l2 0.991 at 4 bits and 0.863 at 1 bit, halfvec 0.991,
# cosine 0.990; at ef_search 200, l2 at 4 bits 1.0.  (d)'s parallel builds
# vary with the workers' interleaving: 0.999-1.0 in memory, 1.0 spilled;
# (e) 1.0.  A recall collapse catches a code scored against the wrong
# query (or the query not rotated like the codes), a decode with the wrong
# centre, codes of one node stored in another's slot, a graph built on
# the floats but linked by ids the written codes do not follow.  (Planted
# by rewriting the layer-0 lists of the cosine index to other valid ids
# in the file: no error, recall 0.112.)
$node->safe_psql('postgres',
	    'CREATE TABLE sift (id int PRIMARY KEY, embedding vector(128));'
	  . 'INSERT INTO sift SELECT * FROM base WHERE id < 20000;'
	  . 'CREATE TABLE sift_h (id int PRIMARY KEY, embedding halfvec(128));'
	  . 'INSERT INTO sift_h SELECT id, embedding::halfvec(128) FROM sift;'
	  . 'ANALYZE sift, sift_h');
my $truth_l2 = exact_top10($node, table => 'sift', op => '<->');
is(scalar(grep { @$_ == 10 } @$truth_l2), 100, 'the exact answers have 10 rows per query');

my %floor40 = (4 => 0.97, 1 => 0.83);
for my $bits (4, 1)
{
	my $idx = "sift_b$bits";
	$node->safe_psql('postgres',
		"CREATE INDEX $idx ON sift USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64, bits = $bits)");
	my $f = assert_codes($node, $idx, 128, "vector l2 bits $bits");
	# 20 bytes of header, 20 of factors, the code, 32 links (catches an
	# option taken as "codes" but not as the number of bits)
	is($f->{node_size}, 20 + 20 + 128 * $bits / 8 + 8 * 16, "vector l2 bits $bits: a node holds a $bits-bit code");
	my $r = check_scan($node, table => 'sift', op => '<->', index => $idx, ef => 40, truth => $truth_l2,
		what => "vector l2 bits $bits");
	floor_ok($r, $floor40{$bits}, "vector l2 bits $bits, ef_search 40");
	if ($bits == 4)
	{
		$r = check_scan($node, table => 'sift', op => '<->', index => $idx, ef => 200, truth => $truth_l2,
			what => "vector l2 bits 4");
		floor_ok($r, 0.99, 'vector l2 bits 4, ef_search 200');
	}
	$node->safe_psql('postgres', "DROP INDEX $idx");
}

# halfvec: its own to_item path into the coder (a halfvec read as floats
# codes garbage: recall collapses)
$node->safe_psql('postgres',
	'CREATE INDEX sift_h_b4 ON sift_h USING hnsw (embedding halfvec_l2_ops) WITH (m = 16, ef_construction = 64, bits = 4)');
assert_codes($node, 'sift_h_b4', 128, 'halfvec l2 bits 4');
my $truth_h = exact_top10($node, table => 'sift_h', op => '<->', qexpr => 'q.q::halfvec(128)');
my $r = check_scan($node, table => 'sift_h', op => '<->', qexpr => 'q.q::halfvec(128)', index => 'sift_h_b4',
	ef => 40, truth => $truth_h, what => 'halfvec l2 bits 4');
floor_ok($r, 0.97, 'halfvec l2 bits 4, ef_search 40');
$node->safe_psql('postgres', 'DROP TABLE sift_h');

# cosine: rows normalised before coding, the bound in 1 - cos (a bound
# made for l2 on unnormalised rows is above the exact distance: "wrong
# order"; a query not normalised loses recall)
$node->safe_psql('postgres',
	'CREATE INDEX sift_cos ON sift USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64, bits = 4)');
assert_codes($node, 'sift_cos', 128, 'vector cosine bits 4');
my $truth_cos = exact_top10($node, table => 'sift', op => '<=>');
$r = check_scan($node, table => 'sift', op => '<=>', index => 'sift_cos', ef => 40, truth => $truth_cos,
	what => 'vector cosine bits 4');
floor_ok($r, 0.97, 'vector cosine bits 4, ef_search 40');
$node->safe_psql('postgres', 'DROP INDEX sift_cos');

# ---------------------------------------------------------------- (d) parallel builds
$node->safe_psql('postgres',
	    'CREATE TABLE par (id int PRIMARY KEY, embedding vector(128)) WITH (parallel_workers = 2);'
	  . 'INSERT INTO par SELECT * FROM base WHERE id < 30000; ANALYZE par');
my $truth_par = exact_top10($node, table => 'par', op => '<->');

# CREATE INDEX with two workers allowed, client_min_messages = debug2 (the
# workers' counts come through): exit code and stderr
sub parallel_build
{
	my ($table, $mem) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		    "SET max_parallel_maintenance_workers = 2; SET maintenance_work_mem = '$mem'; "
		  . 'SET client_min_messages = debug2; '
		  . "CREATE INDEX ${table}_b4 ON $table USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64, bits = 4)");
	return ($ret, $err);
}

# in memory: the workers put floats into the shared graph, the leader
# codes them when it writes the graph (catches a leader that writes codes
# around a centre of its own rows only, or workers' nodes written uncoded)
my ($ret, $err) = parallel_build('par', '256MB');
is($ret, 0, 'parallel build in memory succeeds') or diag($err);
like($err, qr/using 2 parallel workers/, 'parallel build in memory: two workers');
my $counts = participants($err);
cmp_ok(scalar(grep { $_ > 0 } @$counts), '>=', 2,
	'parallel build in memory: at least two participants indexed rows (' . join(', ', @$counts) . ')');
is(sum(@$counts), 30000, 'parallel build in memory: the participants indexed every row between them');
unlike($err, qr/no longer fits/, 'parallel build in memory: the graph stayed in memory');
assert_codes($node, 'par_b4', 128, 'parallel build in memory');
check_clean($node, 'par_b4', 'parallel build in memory');
$r = check_scan($node, table => 'par', op => '<->', index => 'par_b4', ef => 100, truth => $truth_par,
	what => 'parallel build in memory');
floor_ok($r, 0.98, 'parallel build in memory, ef_search 100');
$node->safe_psql('postgres', 'DROP INDEX par_b4');

# spilled: 6,000 of those rows in another table (a spill of all 30,000
# takes 40 s on two cores: a parallel build spills only when the shared
# graph holds less than half the rows, and the rest go in at about 700
# rows a second).  In 1 MB the shared graph holds its least, 1,024 nodes;
# then the leader writes it with its codes pages, and every participant
# inserts on disk and codes its rows with the codec those pages hold
# (catches workers that code around the origin or another centre than the
# one written, or that start before the codes pages are there: recall
# collapses, the check reports codes that do not match the heap rows, or
# the scan raises "wrong order")
$node->safe_psql('postgres',
	    'CREATE TABLE spill (id int PRIMARY KEY, embedding vector(128)) WITH (parallel_workers = 2);'
	  . 'INSERT INTO spill SELECT * FROM par WHERE id < 6000; ANALYZE spill');
my $truth_spill = exact_top10($node, table => 'spill', op => '<->');
($ret, $err) = parallel_build('spill', '1MB');
is($ret, 0, 'parallel build that spills succeeds') or diag($err);
like($err, qr/using 2 parallel workers/, 'parallel build that spills: two workers');
like($err, qr/NOTICE:  hnsw graph no longer fits into maintenance_work_mem after 1024 tuples/,
	'parallel build that spills: the shared graph filled at 1,024 rows (the NOTICE)');
is(sum(@{ participants($err) }), 6000, 'parallel build that spills: the participants indexed every row between them');
assert_codes($node, 'spill_b4', 128, 'parallel build that spills');
check_clean($node, 'spill_b4', 'parallel build that spills');
$r = check_scan($node, table => 'spill', op => '<->', index => 'spill_b4', ef => 100, truth => $truth_spill,
	what => 'parallel build that spills');
floor_ok($r, 0.98, 'parallel build that spills, ef_search 100');
$node->safe_psql('postgres', 'DROP TABLE par, spill');

# ---------------------------------------------------------------- (e) vector(3072), codes chosen by themselves
# Row i: 24 blocks of 128, block j its sift row times (1 + j % 3), plus
# uniform noise of +-4 (seeded); the queries the same of 50 sift queries.
# Catches: a wide column refused or stored as floats (format check), codes
# of the wrong width (a padded dimension computed for floats), a centre
# spread over several codes pages read back wrongly (3072 floats take two
# pages: a second page skipped or read from the wrong offset loses recall
# or raises "wrong order").
my $widen = "(SELECT array_agg(e[1 + j % 128] * (1 + (j / 128) % 3) + (random()::real - 0.5) * 8 ORDER BY j) "
  . 'FROM generate_series(0, 3071) j)::vector(3072)';
$node->safe_psql('postgres',
	    'SELECT setseed(0.55);'
	  . "CREATE TABLE wide AS SELECT id, $widen AS embedding FROM (SELECT id, embedding::real[] e FROM base WHERE id < 2000 ORDER BY id) s;"
	  . 'ALTER TABLE wide ADD PRIMARY KEY (id);'
	  . "CREATE TABLE wqueries AS SELECT qid, $widen AS q FROM (SELECT qid, q::real[] e FROM queries WHERE qid < 50 ORDER BY qid) s;"
	  . 'ANALYZE wide');
my $truth_w = exact_top10($node, table => 'wide', op => '<->', qtable => 'wqueries');
$node->safe_psql('postgres', 'CREATE INDEX wide_auto ON wide USING hnsw (embedding vector_l2_ops)');
my $fw = assert_codes($node, 'wide_auto', 3072, 'vector(3072) without options');
# 1 bit from 1,024 dimensions on, and a 4-bit re-ranking code: 20 bytes of
# header, 20 of factors, 3072 / 8 of code, 20 and 3072 / 2 of the
# re-ranking code, 32 links, rounded up to a multiple of 8
is($fw->{node_size}, 8 * int((20 + 20 + 3072 * 1 / 8 + 20 + 3072 * 4 / 8 + 8 * 16 + 7) / 8),
	'vector(3072) without options: a node holds a 1-bit code and a 4-bit re-ranking code');
check_clean($node, 'wide_auto', 'vector(3072)');
$r = check_scan($node, table => 'wide', op => '<->', index => 'wide_auto', ef => 100, truth => $truth_w,
	qtable => 'wqueries', what => 'vector(3072)');
floor_ok($r, 0.97, 'vector(3072), ef_search 100');
$node->safe_psql('postgres', 'DROP TABLE wide, wqueries');

# ---------------------------------------------------------------- (c) crash recovery
$node->safe_psql('postgres',
	    'CREATE TABLE crash (id int PRIMARY KEY, embedding vector(128));'
	  . 'INSERT INTO crash SELECT * FROM base WHERE id >= 30000 AND id < 35000;'
	  . 'CHECKPOINT;'
	  . 'CREATE INDEX crash_b4 ON crash USING hnsw (embedding vector_l2_ops) WITH (bits = 4)');
assert_codes($node, 'crash_b4', 128, 'crash: the build');
# 1,800 rows in one committed transaction, 200 single-row commits
copy_vectors($node, 'crash', [ @$base[ 35000 .. 36799 ] ], 35000);
$node->safe_psql('postgres',
	join '', map { "INSERT INTO crash VALUES ($_, '" . vec_literal($base->[$_]) . "');\n" } 36800 .. 36999);
# 500 rows of a transaction still open at the stop (their nodes are in
# the index, their rows never commit)
my ($h, $out, $perr) = psql_bg($node,
	    "BEGIN;\nINSERT INTO crash SELECT id + 100000, embedding FROM base WHERE id < 500;\n"
	  . "SELECT pg_sleep(300);\n");
my $open = 0;
for (1 .. 600)
{
	$open = $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(300)%' AND state = 'active'");
	last if $open;
	usleep(100_000);
}
ok($open, 'crash: the open transaction inserted its rows and waits');
$node->stop('immediate');
eval { $h->finish; };
$node->start;

is($node->safe_psql('postgres', 'SELECT count(*), count(*) FILTER (WHERE id >= 100000) FROM crash'),
	'7000|0', 'crash: every committed row is there after recovery, none of the open transaction');
assert_codes($node, 'crash_b4', 128, 'crash: after recovery');
# k = 1 for each row's own vector (catches: an insert whose node or code
# redo does not restore, e.g. a code written outside the WAL record's
# range, or codes pages not made durable by the build, which leave
# self-lookups failing or the index unreadable).  The self-lookups, not
# vector_index_check, catch rows missing from the index: the check looks
# from the index to the heap (planted by putting back the index file as
# the build left it: 2,000 rows not found, the check clean).
my $selfq = 'SELECT i.id FROM crash i WHERE '
  . '(SELECT j.id FROM crash j ORDER BY j.embedding <-> i.embedding LIMIT 1) IS DISTINCT FROM i.id';
my $csettings = 'SET enable_seqscan = off; SET hnsw.ef_search = 200';
like($node->safe_psql('postgres', "$csettings; EXPLAIN (COSTS OFF) $selfq"),
	qr/Index Scan using crash_b4 on crash j/, 'crash: the self-lookup is an index scan');
my ($sret, $sout, $serr) = $node->psql('postgres', "$csettings; SELECT string_agg(id::text, ',') FROM ($selfq) s");
is($sret, 0, 'crash: the self-lookups ran') or diag($serr);
is($sout, '', 'crash: after recovery every one of the 7,000 committed rows is found by its own vector');
# VACUUM flags the open transaction's nodes; the check then compares every
# live node's code with its heap row re-coded
$node->safe_psql('postgres', 'VACUUM crash');
check_clean($node, 'crash_b4', 'crash: after recovery and VACUUM');
($sret, $sout, $serr) = $node->psql('postgres', "$csettings; SELECT string_agg(id::text, ',') FROM ($selfq) s");
is($sout, '', 'crash: after VACUUM every row is still found by its own vector') or diag($serr);

is_deeply([ server_log_problems($node) ], [], 'no crash, PANIC or failed assertion in the log');
$node->stop;

# ---------------------------------------------------------------- (b) WAL and a streaming standby
my $primary = PostgreSQL::Test::Cluster->new('codes_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf',
	"wal_consistency_checking = 'all'\nmax_parallel_workers_per_gather = 0\nautovacuum = off\n"
	  . "max_parallel_maintenance_workers = 0\nwal_keep_size = '2GB'");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION vector; CREATE EXTENSION pageinspect');
$primary->safe_psql('postgres', 'CREATE TABLE walt (id int PRIMARY KEY, embedding vector(128))');
copy_vectors($primary, 'walt', [ @$base[ 0 .. 4999 ] ], 0);

$primary->backup('b1');
my $standby = PostgreSQL::Test::Cluster->new('codes_standby');
$standby->init_from_backup($primary, 'b1', has_streaming => 1);
$standby->start;

my @wq = @$qvecs[ 0 .. 19 ];
my $wsettings = 'SET enable_seqscan = off; SET hnsw.ef_search = 100';
# the standby's index answers as the primary's (catches: codes pages, codes
# or factors that redo does not rebuild byte for byte: the consistency
# check stops the standby with "inconsistent page found", or its answers
# differ)
sub same_answers
{
	my ($when) = @_;
	standby_same_answers($primary, $standby, 'walt', [ [ 'l2', '<->' ], [ 'ip', '<#>' ] ], \@wq,
		$wsettings, $when);
	return;
}

# the build after the standby started: its pages, the codes pages among
# them, reach the standby by WAL only
# (and one with a re-ranking code, which the same records carry)
$primary->safe_psql('postgres', 'CREATE INDEX walt_l2 ON walt USING hnsw (embedding vector_l2_ops) WITH (bits = 2)');
$primary->safe_psql('postgres',
	'CREATE INDEX walt_ip ON walt USING hnsw (embedding vector_ip_ops) WITH (bits = 1, rerank_bits = 4)');
assert_codes($primary, 'walt_l2', 128, 'WAL: the primary');
same_answers('WAL: after CREATE INDEX');
assert_codes($standby, 'walt_l2', 128, 'WAL: the standby');

# 2,000 rows in four transactions
for my $t (0 .. 3)
{
	my $first = 5000 + 500 * $t;
	copy_vectors($primary, 'walt', [ @$base[ $first .. $first + 499 ] ], $first);
}
same_answers('WAL: after inserts');
$primary->safe_psql('postgres', 'DELETE FROM walt WHERE id % 3 = 0');
$primary->safe_psql('postgres', 'VACUUM walt');
copy_vectors($primary, 'walt', [ @$base[ 7000 .. 7999 ] ], 7000);
same_answers('WAL: after DELETE, VACUUM and more inserts');
for my $n ([ 'primary', $primary ], [ 'standby', $standby ])
{
	check_clean($n->[1], 'walt_l2', "WAL: $n->[0]");
	check_clean($n->[1], 'walt_ip', "WAL: $n->[0], re-ranking code");
}
is_deeply([ server_log_problems($primary) ], [], 'WAL: no crash in the primary log');
is_deeply([ server_log_problems($standby) ], [], 'WAL: no redo failure in the standby log');
$standby->stop;
$primary->stop;

diag(join(', ', map { sprintf('%s %.4f', $_, $ran{$_}) } sort keys %ran));
done_testing();
