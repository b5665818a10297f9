# hnsw filter columns on arrays: CREATE INDEX ... USING hnsw (embedding
# vector_l2_ops, labels, tags) with labels int4[] and tags text[].
# WHERE labels && ARRAY[...] and WHERE labels @> ARRAY[...] are Index
# Conds of the hnsw scan.  Each row's array is kept, in its node record and
# on the tag pages, as a 64-bit signature (three bits per element); the
# scan passes the rows whose signature may match, the executor rechecks
# them (lossy), and a scan with an array condition goes on as
# hnsw.iterative_scan = strict_order does, so that a LIMIT comes back full
# whenever enough rows match (src/hnsw/hnswfilter.c, src/hnsw/README.md,
# "Filter columns").  test/t/056_hnsw_filter.pl is the same for scalar
# filter columns; sql/hnsw_filter_array.sql has the operators' corner
# cases (empty arrays, NULL elements, other element types).
#
# Data (seeded, deterministic): vector(16) rows of random coordinates;
# labels: 1 to 4 labels, each from 0..9 (common) or 10..199 (rare), one
# row in ten also a large label (10^9 + 7919 k, k < 20), one in twenty
# eight labels near 10^6 more (a dense signature, which passes many rows
# wrongly), 2 % NULL and 2 % '{}'; tags: 1 to 3 of tag-0 .. tag-11, one in
# ten a rare-N too, 2 % NULL.  No table has a btree, so with enable_seqscan
# off the hnsw index is the only index path.
#
# Every answer is compared with a brute-force one, the same query with
# enable_indexscan and enable_bitmapscan off (a sequential scan and a
# sort).  For each WHERE over 20 queries: as many rows as the brute force
# (LIMIT rows whenever LIMIT rows match), every row passes the WHERE
# ("(where) IS TRUE" on the row returned), no id twice, distances never
# decrease, and recall (returned distances that are the brute force's, a
# multiset, so ties cannot make it flaky) at least 0.95.  The WHEREs:
# && one rare label, && one common label, && four common labels and a
# large one, @> two common labels, && a large label, && one text tag, @>
# two text tags, && on labels AND && on tags, and, once rows were changed,
# && the labels only updated and re-inserted rows have.  hnsw.ef_search is
# 20 on the tables of (a) and (b) (about 3,500 rows: a scan scores all the
# rows its conditions may pass when they are at most ef_search * 3m = 960,
# and walks the graph on them otherwise, as for && five labels) and 40 on
# the 20,000 rows of (c) (one common label or one tag walked too).  With
# LIMIT 50 at ef_search 20 (more rows than ef_search, hnsw.iterative_scan
# off) three WHEREs must still come back full; their recall floor is 0.95
# for floats and 0.8 for codes (bits 4; measured 0.87-1.0: what
# strict_order's walk finds on 4-bit estimates).
#
# (a) WAL: a primary with wal_consistency_checking = 'all' (redo compares
#     every page it rebuilds with the image the record carries) and a
#     streaming standby.  Two tables of the same 1,500 rows; after the
#     standby started, CREATE INDEX (embedding, labels, tags) on one, the
#     same WITH (bits = 4) on the other; 1,500 rows inserted (COPY in
#     three transactions and 50 single-row INSERTs: the tag pages are
#     extended and entries written through WAL), an UPDATE of the labels
#     of one row in 25, a DELETE of one in 5 and VACUUM, 400 rows inserted
#     (into the freed node slots, whose tag entries still hold the deleted
#     rows' values) with labels no row had.  After catch-up: the plans are
#     the hnsw scan with the array conditions as Index Cond on both nodes,
#     the standby returns the primary's ids for every query, both answer
#     as the brute force, vector_index_check is clean, and no log shows
#     an inconsistent page.
# (b) Crash recovery on the same primary (standby stopped): CHECKPOINT,
#     600 rows inserted (COPY and single-row INSERTs, with labels of their
#     own) and 100 rows' labels updated, then an immediate stop and a
#     start: the brute-force comparisons, a clean vector_index_check, and
#     no inconsistent page found during redo.
# (c) Builds: on 20,000 rows a parallel build with two workers (the
#     participants' counts add up to every row), on 8,000 of them a serial
#     build in maintenance_work_mem = 1MB that spills (the NOTICE): the
#     plans, the brute-force comparisons and a clean vector_index_check
#     for each.
#
# What each check catches is said where it is made.  Planted: HnswTagSet
# returning without writing the entry failed 63 checks of (a) and (b)
# (rows of reused node slots missing under their new labels, recall down
# to 0.56, vector_index_check on both nodes); the entry written into the
# buffer after GenericXLogFinish stopped the standby ("inconsistent page
# found") and the recovery of (b).  About 40 s on 2 cores.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use VectorTest;

my $t_start = time;
my %measured;
my $DIM = 16;
my $brute = 'SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_seqscan = on';

# ---------------------------------------------------------------- data

sub common_label { my ($r) = @_; return int($r->() * 10); }
sub large_label { my ($r) = @_; return 1_000_000_000 + 7919 * int($r->() * 20); }

# Rows $first .. $last as COPY fields [id, embedding, labels, tags], from
# generator $r; $extra->($id), when given: a label the row gets besides
# its own (one no row written before has), unless its labels are NULL or
# empty.
sub gen_rows
{
	my ($r, $first, $last, $extra) = @_;
	my @rows;
	for my $id ($first .. $last)
	{
		my $vec = vec_literal([ map { $r->() * 2 - 1 } 1 .. $DIM ]);
		my @l = map { $r->() < 0.5 ? common_label($r) : 10 + int($r->() * 190) } 1 .. 1 + int($r->() * 4);
		push @l, large_label($r) if $r->() < 0.1;
		push @l, map { 1_000_000 + int($r->() * 1_000_000) } 1 .. 8 if $r->() < 0.05;
		push @l, $extra->($id) if $extra;
		my @t = map { 'tag-' . int($r->() * 12) } 1 .. 1 + int($r->() * 3);
		push @t, 'rare-' . int($r->() * 30) if $r->() < 0.1;
		my $x = $r->();
		my $labels = $x < 0.02 ? undef : $x < 0.04 ? '{}' : '{' . join(',', @l) . '}';
		my $tags = $r->() < 0.02 ? undef : '{' . join(',', @t) . '}';
		push @rows, [ $id, $vec, $labels, $tags ];
	}
	return \@rows;
}

# COPY rows into $table in one statement (COPY FROM STDIN in psql's script).
sub copy_rows
{
	my ($n, $table, $rows) = @_;
	my $data = join '', map { join("\t", map { $_ // '\N' } @$_) . "\n" } @$rows;
	$n->safe_psql('postgres', "COPY $table (id, embedding, labels, tags) FROM STDIN;\n$data\\.\n");
	return;
}

# The same rows as single-row INSERTs, each its own transaction.
sub insert_rows
{
	my ($n, $table, $rows) = @_;
	my $lit = sub { defined $_[0] ? "'$_[0]'" : 'NULL' };
	$n->safe_psql('postgres',
		join '',
		map { "INSERT INTO $table (id, embedding, labels, tags) VALUES ($_->[0], '$_->[1]', "
			  . $lit->($_->[2]) . ', ' . $lit->($_->[3]) . ");\n" } @$rows);
	return;
}

# 20 queries (seeded random points among the rows, rounded to float4),
# each with its own condition values.
my $qr = seeded_rng(5701);
my $query_vecs = as_float4(random_vectors(20, $DIM, 5702));
my @qv;
for my $i (0 .. $#$query_vecs)
{
	my @common = (0 .. 9);
	# four distinct common labels, in a seeded order
	for my $j (0 .. 9) { my $k = $j + int($qr->() * (10 - $j)); @common[ $j, $k ] = @common[ $k, $j ]; }
	my @tags = map { "tag-$_" } 0 .. 11;
	for my $j (0 .. 11) { my $k = $j + int($qr->() * (12 - $j)); @tags[ $j, $k ] = @tags[ $k, $j ]; }
	push @qv, { rare => 10 + int($qr->() * 190), common => \@common, large => large_label($qr), tags => \@tags, i => $i };
}

# The WHEREs of one query: [ name, where, the columns of its Index Cond ].
# 'changed' adds the labels only updated (300 + x) and re-inserted (310 +
# x, after VACUUM; 320 + x, before the crash) rows have.
sub wheres
{
	my ($v, $changed) = @_;
	my @c = @{ $v->{common} };
	my @t = @{ $v->{tags} };
	my @w = (
		[ '&& one rare label', "labels && ARRAY[$v->{rare}]", ['labels'] ],
		[ '&& one common label', "labels && ARRAY[$c[0]]", ['labels'] ],
		[ '&& five labels', "labels && ARRAY[$c[0], $c[1], $c[2], $c[3], $v->{large}]", ['labels'] ],
		[ '@> two labels', "labels @> ARRAY[$c[1], $c[2]]", ['labels'] ],
		[ '&& a large label', "labels && ARRAY[$v->{large}]", ['labels'] ],
		[ '&& one text tag', "tags && ARRAY['$t[0]']", ['tags'] ],
		[ '@> two text tags', "tags @> ARRAY['$t[1]', '$t[2]']", ['tags'] ],
		[ 'labels && AND tags &&', "labels && ARRAY[$c[3]] AND tags && ARRAY['$t[3]']", [ 'labels', 'tags' ] ],
	);
	push @w, [ '&& the changed rows\' labels', 'labels && ARRAY[' . (300 + $v->{i} % 5) . ', ' . (310 + $v->{i} % 10)
		  . ', ' . (320 + $v->{i} % 10) . ']', ['labels'] ]
	  if $changed;
	return @w;
}

# ---------------------------------------------------------------- helpers

# For each item [$q, $where] run, in one psql session after $settings:
# SELECT id, distance, (where) IS TRUE ... WHERE where ORDER BY distance
# LIMIT $k.  Returns { ret, err, rows => per item [ [id, dist, passes] ] }.
sub run_items
{
	my ($n, $table, $items, $k, $settings) = @_;
	my $sql = "$settings;\n";
	for my $i (0 .. $#$items)
	{
		my ($q, $where) = @{ $items->[$i] };
		my $lit = "'" . vec_literal($q) . "'";
		$sql .= "SELECT $i, id, embedding <-> $lit, ($where) IS TRUE FROM $table WHERE $where "
		  . "ORDER BY embedding <-> $lit LIMIT $k;\n";
	}
	my ($ret, $out, $err) = $n->psql('postgres', $sql);
	my @rows = map { [] } @$items;
	for (split /\n/, $out // '')
	{
		my ($i, $id, $d, $ok) = split /\|/;
		push @{ $rows[$i] }, [ $id, $d, $ok eq 't' ];
	}
	return { ret => $ret, err => $err, rows => \@rows };
}

sub index_settings
{
	my ($ef) = @_;
	return "SET enable_seqscan = off; SET enable_bitmapscan = off; SET hnsw.iterative_scan = off; SET hnsw.ef_search = $ef";
}

# The queries of every WHERE on $table through $node's index, against the
# brute force's rows (run on $truth_node, default $node): four tests per
# WHERE.  Returns the index run's rows, per item.
sub compare_with_brute
{
	my ($n, %o) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($table, $k, $ef, $what) = @o{qw(table k ef what)};
	my @names = map { $_->[0] } wheres($qv[0], $o{changed});
	my @names_sel = $o{only} ? grep { my $x = $_; grep { $_ eq $x } @{ $o{only} } } @names : @names;
	my (@items, @iname);
	for my $v (@qv)
	{
		for my $w (wheres($v, $o{changed}))
		{
			next unless grep { $_ eq $w->[0] } @names_sel;
			push @items, [ $query_vecs->[ $v->{i} ], $w->[1] ];
			push @iname, $w->[0];
		}
	}
	my $truth = run_items($o{truth_node} // $n, $table, \@items, $k, $brute);
	my $got = run_items($n, $table, \@items, $k, index_settings($ef));
	is($truth->{ret} + $got->{ret}, 0, "$what: the queries ran") or diag("$truth->{err} $got->{err}");
	for my $name (@names_sel)
	{
		my @ix = grep { $iname[$_] eq $name } 0 .. $#items;
		my (@short, @wrong, @unordered, $hits, $wanted, $full);
		for my $i (@ix)
		{
			my ($g, $t) = ($got->{rows}[$i], $truth->{rows}[$i]);
			$full++ if @$t == $k;
			push @short, "$i: " . scalar(@$g) . ' of ' . scalar(@$t) if @$g != @$t;
			my %seen;
			push @wrong, $i if grep { !$_->[2] || $seen{ $_->[0] }++ } @$g;
			push @unordered, $i if grep { $g->[$_][1] < $g->[ $_ - 1 ][1] } 1 .. $#$g;
			$hits += dist_hits($g, $t);
			$wanted += @$t;
		}
		my $recall = $wanted ? $hits / $wanted : 1;
		$measured{"$what, $name: recall"} = sprintf('%.4f (%d of %d queries with %d matches)', $recall, $full // 0, scalar @ix, $k);
		# fewer rows than the brute force: a scan that stops after
		# ef_search rows passed by the signatures (some of them rejected by
		# the recheck), or one that leaves out rows whose tag entry or
		# signature is wrong (an entry never written into a reused slot
		# keeps the deleted row's labels); more rows: the recheck lost
		is(scalar @short, 0, "$what, $name: as many rows as the brute force (LIMIT $k when $k match) for every query")
		  or diag("short: @short[0 .. ($#short < 4 ? $#short : 4)]");
		# a row failing the WHERE: the executor's recheck is not asked for
		# (xs_recheck unset for an array key), so a signature's false
		# match comes back
		is(scalar @wrong, 0, "$what, $name: every row passes the WHERE, no id twice") or diag("items @wrong");
		is(scalar @unordered, 0, "$what, $name: distances never decrease") or diag("items @unordered");
		# a low recall: a signature test that rejects rows that match (a
		# wrong && or @>, bits of another hash), or a walk that does not
		# route through the rows that fail the condition
		cmp_ok($recall, '>=', $o{floor} // 0.95, sprintf('%s, %s: recall %.4f', $what, $name, $recall));
	}
	return ($got->{rows}, \@items);
}

# EXPLAIN of one query per WHERE: the hnsw Index Scan on $index, an Index
# Cond naming each array column of the WHERE, no Filter (catches an
# operator missing from array_ops' family or a planner that does not match
# && / @> to the index: the condition is then a Filter, and ef_search
# counts rows that fail it).
sub plans_ok
{
	my ($n, $table, $index, $what, $changed) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $lit = "'" . vec_literal($query_vecs->[0]) . "'";
	for my $w (wheres($qv[0], $changed))
	{
		my $plan = $n->safe_psql('postgres',
			index_settings(40) . "; EXPLAIN (COSTS OFF) SELECT id FROM $table WHERE $w->[1] ORDER BY embedding <-> $lit LIMIT 10");
		my ($cond) = $plan =~ /^\s*Index Cond: (.*)$/m;
		my $ok = $plan =~ /Index Scan using \Q$index\E on \Q$table\E/ && $plan !~ /^\s*Filter:/m && defined $cond;
		for my $col (@{ $w->[2] })
		{
			$ok &&= $cond =~ /\b$col (&&|\@>) '\{/;
		}
		ok($ok, "$what, $w->[0]: the hnsw scan on $index has the array condition as Index Cond, no Filter")
		  or diag($plan =~ s/'\[[^\]]{40,}\]'/'[...]'/gr);
	}
	return;
}

# vector_index_check reports nothing (it compares every live node's stored
# signature with its heap row's, and every written tag entry with its
# node's: catches a tag entry left with a deleted row's values, or a
# signature formed differently at insert and at build).
sub check_clean
{
	my ($n, $index, $what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($ret, $out, $err) = $n->psql('postgres', "SELECT string_agg(p, '; ') FROM vector_index_check('$index') p");
	is("$ret|$out", '0|', "$what: vector_index_check('$index') finds nothing wrong") or diag($err);
	return;
}

sub no_log_problems
{
	my ($n, $what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	# "inconsistent page found": a page redo rebuilt differs from the
	# primary's (a tag entry or tag page whose WAL is not what the primary
	# wrote)
	is_deeply([ server_log_problems($n) ], [], "$what: no crash, failed assertion or inconsistent page in the log");
	return;
}

# ---------------------------------------------------------------- (a) WAL, a streaming standby
my $t_a = time;
my $primary = PostgreSQL::Test::Cluster->new('array_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf',
	"wal_consistency_checking = 'all'\nautovacuum = off\nmax_parallel_workers_per_gather = 0\n"
	  . "max_parallel_maintenance_workers = 0\nmax_worker_processes = 8\nmax_parallel_workers = 8\n"
	  . "wal_keep_size = '1GB'\ncheckpoint_timeout = '1h'\nmax_wal_size = '4GB'\nshared_buffers = 128MB\n");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION vector');
my @tables = ([ 'arr0', 'arr0_idx', '' ], [ 'arr4', 'arr4_idx', ' WITH (bits = 4)' ]);
my $r = seeded_rng(5703);
my $rows0 = gen_rows($r, 0, 1499);
for my $t (@tables)
{
	$primary->safe_psql('postgres', "CREATE TABLE $t->[0] (id int, embedding vector($DIM), labels int4[], tags text[])");
	copy_rows($primary, $t->[0], $rows0);
}
$primary->backup('b1');
my $standby = PostgreSQL::Test::Cluster->new('array_standby');
$standby->init_from_backup($primary, 'b1', has_streaming => 1);
$standby->start;

# Everything of the indexes reaches the standby through WAL: the builds,
# then the inserts (1,500 rows: the tag pages, 448 entries each, go from 4
# to 7, each extension one record, each entry another)
$primary->safe_psql('postgres', "CREATE INDEX $_->[1] ON $_->[0] USING hnsw (embedding vector_l2_ops, labels, tags)$_->[2]")
  for @tables;
my @batches = (gen_rows($r, 1500, 1949), gen_rows($r, 1950, 2399), gen_rows($r, 2400, 2949), gen_rows($r, 2950, 2999));
for my $t (@tables)
{
	copy_rows($primary, $t->[0], $_) for @batches[ 0 .. 2 ];
	insert_rows($primary, $t->[0], $batches[3]);
}
is($primary->safe_psql('postgres', 'SELECT count(*) FROM arr0, arr4 WHERE arr0.id = arr4.id'), '3000',
	'(a) the two tables hold the same 3,000 rows');
# UPDATE: one label dropped and 300 + x added (a new node for the new
# tuple; its values differ from the old node's)
# DELETE and VACUUM: the nodes of a fifth of the rows and of the updated
# rows' old tuples are freed; the 400 rows inserted next take their
# slots, whose tag entries hold the deleted rows' values until the insert
# writes its own, and have labels 310 + x, which no deleted row had (an
# entry not written, or not replayed, keeps them out of every scan for
# 310 + x)
my $after_vacuum = gen_rows($r, 3000, 3399, sub { 310 + $_[0] % 10 });
for my $t (@tables)
{
	$primary->safe_psql('postgres',
		"UPDATE $t->[0] SET labels = labels[2:] || (300 + id % 5) WHERE id % 25 = 0;"
		  . "DELETE FROM $t->[0] WHERE id % 5 = 1;");
	$primary->safe_psql('postgres', "VACUUM $t->[0]");
	copy_rows($primary, $t->[0], $after_vacuum);
	$primary->safe_psql('postgres', "ANALYZE $t->[0]");
}
# The standby replays everything (catches a tag page or entry whose WAL
# is not what the primary wrote: with wal_consistency_checking the next
# record of the page finds it, and the standby stops with "inconsistent
# page found"; waited for here, so that the test says so at once rather
# than timing out in wait_for_catchup)
sub replayed
{
	my ($p, $s) = @_;
	my $lsn = $p->lsn('insert');
	for (1 .. 1800)
	{
		return 0 if server_log_problems($s);
		my ($ret, $out) = $s->psql('postgres', "SELECT pg_last_wal_replay_lsn() >= '$lsn'");
		return 1 if $ret == 0 && $out eq 't';
		Time::HiRes::usleep(100_000);
	}
	return 0;
}
my $replayed = ok(replayed($primary, $standby), '(a) the standby replays all the WAL of the builds and writes')
  or diag(join '', server_log_problems($standby));
$measured{'(a) writes, s'} = time - $t_a;

# The brute force has LIMIT rows for most queries of every WHERE but the
# rare ones, so "as many rows as the brute force" tests full LIMITs
{
	my @items = map { my $v = $_; map { [ $query_vecs->[ $v->{i} ], $_->[1], $_->[0] ] } wheres($v, 1) } @qv;
	my $t = run_items($primary, 'arr0', \@items, 10, $brute);
	my %full;
	$full{ $items[$_][2] } += @{ $t->{rows}[$_] } == 10 for 0 .. $#items;
	my @thin = grep { $full{$_} < ($_ =~ /rare|large|changed/ ? 8 : 18) } sort keys %full;
	is(scalar @thin, 0, '(a) the brute force returns 10 rows for most queries of every WHERE')
	  or diag(join ', ', map { "$_: $full{$_}" } @thin);
}

for my $t (@tables)
{
	my ($table, $index) = @$t;
	plans_ok($primary, $table, $index, "(a) primary $table", 1);
	my ($p) = compare_with_brute($primary, table => $table, k => 10, ef => 20, what => "(a) primary $table", changed => 1);
	if ($replayed)
	{
		plans_ok($standby, $table, $index, "(a) standby $table", 1);
		# the standby's answers are the primary's (catches a tag page or
		# entry that redo rebuilds otherwise: the standby's scan then
		# passes other rows, and its answers differ)
		my ($s) = compare_with_brute($standby, table => $table, k => 10, ef => 20, what => "(a) standby $table",
			changed => 1, truth_node => $primary);
		is_deeply([ map { [ map { $_->[0] } @$_ ] } @$s ], [ map { [ map { $_->[0] } @$_ ] } @$p ],
			"(a) $table: the standby returns the primary's ids for every query and WHERE");
	}
	# more rows than ef_search with iterative scans off: the scan must go
	# on (catches a scan on a signature that stops after ef_search rows)
	compare_with_brute($primary, table => $table, k => 50, ef => 20, what => "(a) primary $table, LIMIT 50 at ef_search 20",
		changed => 1, floor => $t->[2] ? 0.8 : 0.95, only => [ '&& one common label', '&& five labels', '&& one text tag' ]);
	check_clean($primary, $index, "(a) primary $table");
	check_clean($standby, $index, "(a) standby $table") if $replayed;
}
no_log_problems($primary, '(a) primary');
no_log_problems($standby, '(a) standby');
$standby->stop('fast', fail_ok => 1);
$measured{'(a) s'} = time - $t_a;

# ---------------------------------------------------------------- (b) crash recovery
my $t_b = time;
# after the CHECKPOINT, every change below is redone from WAL: 600 rows
# with labels 320 + x (the tag pages extended again) and 100 rows'
# labels updated (new nodes, new entries)
my $crash_rows = gen_rows($r, 4000, 4599, sub { 320 + $_[0] % 10 });
$primary->safe_psql('postgres', 'CHECKPOINT');
for my $t (@tables)
{
	copy_rows($primary, $t->[0], [ @$crash_rows[ 0 .. 499 ] ]);
	insert_rows($primary, $t->[0], [ @$crash_rows[ 500 .. 599 ] ]);
	$primary->safe_psql('postgres', "UPDATE $t->[0] SET labels = labels || (300 + id % 5) WHERE id % 30 = 7");
}
$primary->stop('immediate');
# (catches redo of the tag records that does not rebuild the pages the
# primary had: wal_consistency_checking stops the recovery, and the
# server does not start)
my $recovered = ok($primary->start(fail_ok => 1), '(b) the primary recovers from the crash');
if (!$recovered)
{
	diag(join '', server_log_problems($primary));
	done_testing();
	exit;
}
is($primary->safe_psql('postgres', 'SELECT count(*) FROM arr0 WHERE id >= 4000'), '600', '(b) the committed rows survived the crash');
for my $t (@tables)
{
	my ($table, $index) = @$t;
	# catches an insert's tag page extension or entry whose redo is lost
	# or differs (rows under labels 320 + x missing, or an inconsistent
	# page found during recovery)
	compare_with_brute($primary, table => $table, k => 10, ef => 20, what => "(b) after recovery $table", changed => 1);
	check_clean($primary, $index, "(b) after recovery $table");
}
no_log_problems($primary, '(b) after recovery');
$measured{'(b) s'} = time - $t_b;

# ---------------------------------------------------------------- (c) parallel and spilled builds
my $t_c = time;
$primary->safe_psql('postgres',
	"CREATE TABLE big (id int, embedding vector($DIM), labels int4[], tags text[]) WITH (parallel_workers = 2)");
copy_rows($primary, 'big', gen_rows(seeded_rng(5704), 0, 19999));
$primary->safe_psql('postgres', 'ANALYZE big');

# CREATE INDEX with the session's settings: exit code and stderr (with
# client_min_messages = debug2 the participants' counts come through)
sub build_with
{
	my ($n, $sql) = @_;
	my ($ret, $out, $err) = $n->psql('postgres', "SET wal_consistency_checking = ''; SET client_min_messages = debug2; $sql");
	return ($ret, $err);
}

# The workers carry each row's signatures into the shared graph (catches
# values lost or taken from another row in a worker: rows missing under
# their labels, or the check's stored-values comparison)
{
	my $t0 = time;
	my ($ret, $err) = build_with($primary,
		"SET max_parallel_maintenance_workers = 2; CREATE INDEX big_par ON big USING hnsw (embedding vector_l2_ops, labels, tags)");
	$measured{'(c) parallel build, s'} = time - $t0;
	is($ret, 0, '(c) the parallel build succeeds') or diag($err);
	like($err, qr/using 2 parallel workers/, '(c) the parallel build uses two workers');
	my @counts = $err =~ /hnsw build participant indexed (\d+) rows/g;
	my $sum = 0;
	$sum += $_ for @counts;
	is($sum, 20000, "(c) the participants indexed every row between them (@counts)");
	plans_ok($primary, 'big', 'big_par', '(c) parallel build', 0);
	compare_with_brute($primary, table => 'big', k => 10, ef => 40, what => '(c) parallel build');
	check_clean($primary, 'big_par', '(c) parallel build');
	$primary->safe_psql('postgres', 'DROP INDEX big_par');
}

# A build that outgrows maintenance_work_mem writes the graph and inserts
# the rest on disk (catches that path writing nodes or tag entries without
# their values: rows missing under their labels, or the check)
{
	$primary->safe_psql('postgres', 'CREATE TABLE spill AS SELECT * FROM big WHERE id < 8000; ANALYZE spill');
	my $t0 = time;
	my ($ret, $err) = build_with($primary,
		"SET maintenance_work_mem = '1MB'; CREATE INDEX spill_idx ON spill USING hnsw (embedding vector_l2_ops, labels, tags)");
	$measured{'(c) spilled build, s'} = time - $t0;
	is($ret, 0, '(c) the build in 1MB succeeds') or diag($err);
	like($err, qr/NOTICE:  hnsw graph no longer fits into maintenance_work_mem/, '(c) the build spilled (the NOTICE)');
	plans_ok($primary, 'spill', 'spill_idx', '(c) spilled build', 0);
	compare_with_brute($primary, table => 'spill', k => 10, ef => 40, what => '(c) spilled build');
	check_clean($primary, 'spill_idx', '(c) spilled build');
}
no_log_problems($primary, '(c)');
$primary->stop;
$measured{'(c) s'} = time - $t_c;
$measured{'total s'} = time - $t_start;

diag(join("\n", map { "$_: $measured{$_}" } sort keys %measured));
done_testing();
