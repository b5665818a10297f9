# hnsw filter columns: CREATE INDEX ... USING hnsw (embedding <opclass>,
# c1, c2, ...), every key column after the vector a filter column (int2,
# int4, int8, bool, text, uuid) whose values the index keeps in its node
# records and on its tag pages.  A scan applies the WHERE's = conditions:
# it finds the matching nodes on the tag pages, scores them all when they
# are few, else walks the graph on them (two hops past the others), so
# hnsw.ef_search counts matching rows: WHERE c = v ORDER BY embedding <-> q LIMIT 10
# returns 10 rows whenever 10 match, without an iterative scan, and the
# condition is an Index Cond of the hnsw scan.  text, uuid and int8 are
# kept as 32-bit hashes and rechecked by the executor; int2 and int4 are
# exact.
#
# Every answer is compared with a brute-force one: the same query with
# enable_indexscan and enable_bitmapscan off (a sequential scan and a
# sort; rows with a NULL vector, which the index does not hold, left out).
# No table has a btree (not even a primary key), so that with
# enable_seqscan off the hnsw index is the only index path.  Recall is
# counted on distances (a returned row whose distance is one of the exact
# top 10's counts; the distances are computed by the executor from the
# heap row, for codes too), so that ties cannot make it flaky, and every
# returned row is separately checked to pass the WHERE ("(cond) IS TRUE"
# evaluated on the row the executor returns).
#
# On PostgreSQL 15 two kinds of WHERE would stay a Filter of the hnsw
# scan: IN (...) / = ANY(array) (the planner builds no ordered path with a
# ScalarArrayOpExpr on a key column after the first), and a bool column
# (the planner folds c = true into c, which it matches to btree and hash
# operator families only).  src/planner/filterquals.c makes them Index
# Conds; they are checked as every other WHERE is (planted: without its
# hook, the 31 plan checks of IN lists, = ANY and bool fail on 15).
#
# (a) Recall: the first 20,000 rows of sift-128, filter columns c50, c10,
#     c1 (int4 with 2 / 10 / 100 values, seeded, independent of the
#     vectors), one index (embedding vector_l2_ops, c50, c10, c1), m 16,
#     ef_construction 64, in the default format (floats) and with bits =
#     4 (codes).  For 50 queries of query.fvecs, each with its own value
#     per column, and iterative scan off: the plan is the hnsw Index Scan
#     with "Index Cond" on the column and no Filter; at ef_search 40 and
#     100, LIMIT 10 returns 10 rows for every query, every row passes the
#     filter, distances never decrease, and recall@10 is at least a
#     measured floor.  The same queries through a LATERAL join (the value a
#     runtime key, the scan rescanned per query) return exactly the
#     literal queries' rows, and an iterative scan (strict_order) at
#     ef_search 20 hands out 50 filtered rows in order.
# (b) Types: 3,000 rows with int2 (values -3..6, 10 % NULL), int4, int8
#     (pairs of values equal in their low 32 bits: 5 and 2^32 + 5, -1 and
#     2^32 - 1), text (case variants, non-ASCII, '', trailing space, a
#     3,000-byte value the heap compresses and one it stores out of line;
#     5 % NULL), uuid and bool columns, and 5 rows with a NULL vector; one
#     index on all six, in both formats.  42 WHEREs: each type's =, IN
#     lists and = ANY(array), cross-type integers both ways, constants
#     outside the column's range whose truncation would match, IN with a
#     NULL, values no row has, two and three columns ANDed, unfiltered.
#     For 10 queries each at ef_search 400: the rows the brute force
#     returns (count, and the exact distances where at most 400 rows match
#     an Index Cond, which makes the walk exhaustive; recall >= 0.99 where
#     more match, and for the Filter WHEREs), every row passes.  Plans: an
#     Index Cond naming each = column, no Filter but for IN and bool.
#     Also: values whose 32-bit hashes collide (text, int8, uuid; found by
#     the server), where the recheck alone tells them apart; a generic plan
#     with parameters (the WHERE value $1, a NULL $1, an array $1 with a
#     NULL); a LATERAL join whose values include NULL; queries without
#     ORDER BY (the index must not serve them, or serve them whole); WHERE
#     c_int2 IS NULL and a bare boolean (correct rows whatever the plan);
#     and, where ICU is there, a column of a nondeterministic
#     (case-insensitive) collation: CREATE INDEX refuses it or the answers
#     are the brute force's.
# (c) Changes after the build, to both indexes of (b) (queries go through
#     one at a time, the other dropped in a transaction rolled back): 1,000
#     rows inserted (COPY, multi-row INSERT, single-row INSERTs) with
#     values the build never saw; 200 rows UPDATEd to other int4 and text
#     values, after which a k = 1 search for a row's own vector under its
#     old value does not return it and under its new value does; an update
#     of a column no index has (HOT where the page has room); a third of
#     the rows deleted and VACUUM; 800 rows inserted after the VACUUM (into
#     freed node slots) with new values.  After the inserts and after the
#     VACUUM the (b) comparisons hold; vector_index_check is clean at the
#     end (it compares every live node's stored filter values with its
#     heap row).
# (d) Builds: a parallel build (parallel_workers = 2 on the table,
#     max_parallel_maintenance_workers = 2) of (embedding, c10, tag) on
#     the 20,000 rows, in both formats: two workers, every row indexed by
#     the participants, the (a) checks on c10 and the text column tag,
#     and a clean vector_index_check.  Then builds that spill: 6,000 rows
#     of (b)'s columns in maintenance_work_mem = 1MB (the NOTICE), serial
#     in the default format and parallel with bits 4: the (b) comparisons
#     and a clean check.
# (e) WAL: a streaming standby of a primary with wal_consistency_checking
#     = 'all' (redo compares every page it rebuilds with the full-page
#     image the record carries).  2,000 rows, CREATE INDEX in both formats
#     (a table each) after the standby started, 800 rows in four
#     transactions, a third deleted, VACUUM, 400 more: after each step the
#     standby returns the primary's top 10 for 20 queries under 5 WHEREs,
#     its log has no "inconsistent page found", and vector_index_check is
#     clean on both nodes.
# (f) Crash recovery: 2,000 rows and both formats, then 1,000 rows in one
#     committed COPY, 100 single-row commits and 300 rows of a transaction
#     still open at an immediate shutdown.  After restart every committed
#     row is found by WHERE c_int4 = <its value> ORDER BY embedding <->
#     <its own vector> LIMIT 1 at ef_search 200 (the inserted rows also by
#     their text value), the open transaction's rows are gone, and after
#     VACUUM the checks are clean and the inserted rows still found.
# (g) Errors: a float8 filter column, a second vector column as a filter
#     column, the vector not the first column, a filter column alone: each
#     CREATE INDEX fails (on an empty table too), naming hnsw.
#
# What each check catches is said where it is made.  Sections run in the
# order a, b, c, d, g, f on one node, then e on a primary and a standby;
# about 2 minutes on 2 cores (3 on a busy machine).
use strict;
use warnings;
use File::Temp ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use VectorTest;

my $dir = data_dir();
plan skip_all => 'no sift-128 data' unless defined $dir;

my $base = read_vecs("$dir/sift-128/base.fvecs", 20000);
my $qvecs = read_vecs("$dir/sift-128/query.fvecs", 50);
my $exact_settings = 'SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_seqscan = on';
my $t_start = time;

my $node = PostgreSQL::Test::Cluster->new('hnsw_filter_cols');
$node->init;
$node->append_conf('postgresql.conf',
	# (wal_level minimal skips the WAL of an index made in the same
	# transaction, and the build then stays serial)
	"wal_level = replica\nshared_buffers = 256MB\nmaintenance_work_mem = 256MB\n"
	  . "max_parallel_workers_per_gather = 0\nautovacuum = off\n"
	  . "max_parallel_maintenance_workers = 0\nmax_worker_processes = 8\nmax_parallel_workers = 8\n"
	  # (f) replays everything since the build
	  . "checkpoint_timeout = '1h'\nmax_wal_size = '4GB'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION vector');

# ---------------------------------------------------------------- data

sub pick { my ($r, @v) = @_; return $v[ int($r->() * @v) ]; }

sub uuid_from
{
	my ($r) = @_;
	my $h = join '', map { sprintf '%04x', int($r->() * 65536) } 1 .. 8;
	return join '-', substr($h, 0, 8), substr($h, 8, 4), substr($h, 12, 4), substr($h, 16, 4), substr($h, 20, 12);
}

# text values: case variants (a case-blind hash or compare finds the
# others), a non-ASCII one and its ASCII look-alike, the empty string, a
# trailing space; LONGREP compresses inline in the heap, LONGRND is stored
# out of line (a value hashed before detoasting, or with its varlena
# header, is not found by the query's constant)
my $longrep = 'ab' x 1500;
my $rr = seeded_rng(5609);
my $longrnd = join '', map { chr(ord('a') + int($rr->() * 26)) . chr(ord('A') + int($rr->() * 26)) } 1 .. 1500;
my @texts = ('red', 'Red', 'RED', "gr\xc3\xbcn", 'grun', 'blue', '', 'red ', $longrep, $longrnd);
my $ur = seeded_rng(5610);
my @uuids = map { uuid_from($ur) } 1 .. 10;
my $absent_uuid = uuid_from($ur);
# int8 values in pairs equal in their low 32 bits: 5 and 2^32 + 5, -1 and
# 2^32 - 1 and -(2^32) - 1, 7 and 2^40 + 7 (a value kept as its low 32
# bits and not rechecked matches its partner; hashint8, which the index
# keeps, folds -1 and 2^32 - 1 to the same input, so that pair collides
# there too and needs the recheck)
my @int8s = (-1, 0, 5, 7, 4294967295, 4294967301, 1099511627783, -4294967297);

# The (b) columns of rows 0 .. $NT - 1: c_int2, c_int4, c_int8, c_text,
# c_uuid, c_bool (undef = NULL), each column from its own generator.
my $NT = 6000;
my %typed;
{
	my %r = map { $_ => seeded_rng(5620 + length($_) * 7 + ord(substr($_, 2, 1))) } qw(c_int2 c_int4 c_int8 c_text c_uuid c_bool);
	for my $i (0 .. $NT - 1)
	{
		push @{ $typed{c_int2} }, $r{c_int2}->() < 0.1 ? undef : -3 + int($r{c_int2}->() * 10);
		push @{ $typed{c_int4} }, int($r{c_int4}->() * 10);
		push @{ $typed{c_int8} }, pick($r{c_int8}, @int8s);
		push @{ $typed{c_text} }, $r{c_text}->() < 0.05 ? undef : pick($r{c_text}, @texts);
		push @{ $typed{c_uuid} }, pick($r{c_uuid}, @uuids);
		push @{ $typed{c_bool} }, $r{c_bool}->() < 0.3 ? 't' : 'f';
	}
}
my @tcols = qw(c_int2 c_int4 c_int8 c_text c_uuid c_bool);
my $typed_ddl = 'id int, embedding vector(128), c_int2 int2, c_int4 int4, c_int8 int8, c_text text, '
  . 'c_uuid uuid, c_bool bool, note int';

# COPY rows (lists of field strings, undef = NULL) into $table ($cols).
sub copy_rows
{
	my ($n, $table, $cols, $rows) = @_;
	my $tmp = File::Temp->new(SUFFIX => '.copy', DIR => $ENV{TESTDIR} // '/tmp');
	print $tmp join("\t", map { defined $_ ? $_ : '\N' } @$_), "\n" for @$rows;
	close $tmp;
	chmod 0644, $tmp->filename;
	$n->safe_psql('postgres', "COPY $table ($cols) FROM '" . $tmp->filename . "'");
	return;
}

# Row $i of a (b)-shaped table: id $id, base vector $i, (b)'s values for
# row $i with %set overriding some.
sub typed_row
{
	my ($id, $i, %set) = @_;
	return [ $id, vec_literal($base->[$i]), (map { exists $set{$_} ? $set{$_} : $typed{$_}[$i] } @tcols), 0 ];
}
my $typed_cols = 'id, embedding, ' . join(', ', @tcols) . ', note';

sub sql_text { my ($s) = @_; $s =~ s/'/''/g; return "'$s'"; }

# ---------------------------------------------------------------- helpers

# For each item [$q, $where] run, in one psql session after $o{settings}:
#   SELECT id, embedding <-> q, (where) IS TRUE FROM table WHERE where
#   ORDER BY embedding <-> q LIMIT k
# (an empty where: no WHERE).  $o{others}: indexes to drop first (the
# table's other hnsw indexes), in a transaction rolled back at the end.
# Returns { ret, err, rows => per item [ [id, distance, passes], ... ] }.
sub knn_batch
{
	my ($n, %o) = @_;
	my ($table, $items, $k) = @o{qw(table items k)};
	my $sql = '';
	$sql .= 'BEGIN; ' . join('', map { "DROP INDEX $_; " } @{ $o{others} // [] }) . "\n" if $o{others};
	$sql .= "$o{settings};\n";
	for my $i (0 .. $#$items)
	{
		my ($q, $where) = @{ $items->[$i] };
		my $lit = "'" . vec_literal($q) . "'";
		my $w = $where eq '' ? '' : " WHERE $where";
		my $ok = $where eq '' ? 'true' : "($where) IS TRUE";
		$sql .= "SELECT $i, id, embedding <-> $lit, $ok FROM $table$w ORDER BY embedding <-> $lit LIMIT $k;\n";
	}
	$sql .= "ROLLBACK;\n" if $o{others};
	my ($ret, $out, $err) = $n->psql('postgres', $sql);
	my @rows = map { [] } @$items;
	for my $line (split /\n/, $out // '')
	{
		my ($i, $id, $d, $ok) = split /\|/, $line;
		push @{ $rows[$i] }, [ $id, $d, $ok eq 't' ];
	}
	return { ret => $ret, err => $err, rows => \@rows };
}

# EXPLAIN (COSTS OFF) of knn_batch's query for [$q, $where].
sub knn_explain
{
	my ($n, %o) = @_;
	my ($q, $where) = @{ $o{item} };
	my $lit = "'" . vec_literal($q) . "'";
	my $w = $where eq '' ? '' : " WHERE $where";
	my $pre = $o{others} ? 'BEGIN; ' . join('', map { "DROP INDEX $_; " } @{ $o{others} }) : '';
	return $n->safe_psql('postgres',
		"$pre$o{settings}; EXPLAIN (COSTS OFF) SELECT id FROM $o{table}$w ORDER BY embedding <-> $lit LIMIT $o{k}"
		  . ($o{others} ? '; ROLLBACK' : ''));
}

# Compare an index run with the brute-force run of the same items:
# { short (items with fewer rows than the truth), extra (more rows),
#   wrong (items with rows that fail the WHERE, or rows with a NULL
#   vector), dup (an id twice), unordered (a distance below its
#   predecessor), inexact (items whose distances are not the truth's),
#   hits and wanted (recall = hits / wanted), bad (what is wrong with
#   each bad item) }.
sub compare_runs
{
	my ($got, $truth) = @_;
	my %s = map { $_ => 0 } qw(short extra wrong dup unordered inexact hits wanted);
	my @bad;
	for my $i (0 .. $#$truth)
	{
		my ($g, $t) = ($got->[$i], $truth->[$i]);
		my @why;
		if (@$g < @$t) { $s{short}++; push @why, scalar(@$g) . ' rows of ' . scalar(@$t); }
		if (@$g > @$t) { $s{extra}++; push @why, scalar(@$g) . ' rows of ' . scalar(@$t); }
		my @w = grep { !$_->[2] } @$g;
		if (@w) { $s{wrong}++; push @why, 'rows failing the WHERE: ' . join(',', map { $_->[0] } @w); }
		my @nv = grep { $_->[1] eq '' } @$g;
		if (@nv) { $s{wrong}++; push @why, 'rows with a NULL vector: ' . join(',', map { $_->[0] } @nv); }
		$g = [ grep { $_->[1] ne '' } @$g ];
		my %seen;
		if (grep { $seen{ $_->[0] }++ } @$g) { $s{dup}++; push @why, 'an id twice'; }
		if (grep { $g->[$_][1] < $g->[ $_ - 1 ][1] } 1 .. $#$g) { $s{unordered}++; push @why, 'out of order'; }
		my $h = dist_hits($g, $t);
		if ($h != @$t || @$g != @$t) { $s{inexact}++; push @why, "$h of " . scalar(@$t) . ' exact'; }
		$s{hits} += $h;
		$s{wanted} += @$t;
		push @bad, "item $i: " . join('; ', @why) if @why;
	}
	$s{recall} = $s{wanted} ? $s{hits} / $s{wanted} : 1;
	$s{bad} = \@bad;
	return \%s;
}

my %measured;    # recall and timings for the report (diag at the end)

# Brute-force rows of the items (a sequential scan and a sort).
sub truth_of
{
	my ($n, $table, $items, $k) = @_;
	my $r = knn_batch($n, table => $table, items => $items, k => $k, settings => $exact_settings);
	die "brute force failed: $r->{err}" if $r->{ret};
	# rows with a NULL vector (sorted last by the sequential scan) are not
	# in the index, so not among the answers it must give
	return [ map { [ grep { $_->[1] ne '' } @$_ ] } @{ $r->{rows} } ];
}

sub index_settings
{
	my ($ef, $extra) = @_;
	return "SET enable_seqscan = off; SET enable_bitmapscan = off; SET hnsw.iterative_scan = off; "
	  . "SET hnsw.ef_search = $ef" . ($extra ? "; $extra" : '');
}

# The plan of the query is the hnsw Index Scan on $index with an Index
# Cond naming each of @$cols and no Filter line (catches a condition the
# planner does not match to the index, e.g. an operator missing from the
# operator family such as int2 = int8: it is then a Filter, and the scan
# counts non-matching rows against ef_search and returns too few).  With
# @$cols empty: the hnsw scan, no Filter.
sub plan_ok
{
	my ($plan, $index, $cols, $what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($cond) = $plan =~ /^\s*Index Cond: (.*)$/m;
	my $good = $plan =~ /Index Scan using \Q$index\E on / && $plan !~ /^\s*Filter:/m;
	$good &&= defined $cond && !grep { $cond !~ /\b\Q$_\E\b/ } @$cols if @$cols;
	ok($good, "$what: the hnsw scan on $index" . (@$cols ? " has an Index Cond on @$cols" : '') . ' and no Filter')
	  or diag($plan =~ s/'\[[^\]]{40,}\]'/'[...]'/gr);
	return;
}

sub check_clean
{
	my ($n, $index, $what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($ret, $out, $err) = $n->psql('postgres', "SELECT string_agg(p, '; ') FROM vector_index_check('$index') p");
	is("$ret|$out", '0|', "$what: vector_index_check($index) finds nothing wrong") or diag($err);
	return;
}

# One test per property of a compare_runs result.  $floor: the recall the
# run must reach; $exact: every item must be exact.
sub assert_run
{
	my ($s, $what, %o) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $first = @{ $s->{bad} } ? $s->{bad}[0] : '';
	ok(!$s->{short} && !$s->{extra}, "$what: as many rows as the brute force for every query")
	  or diag("$s->{short} short, $s->{extra} with more; $first");
	ok(!$s->{wrong} && !$s->{dup}, "$what: every row passes the WHERE, no row twice")
	  or diag("$s->{wrong} with failing rows, $s->{dup} with duplicates; $first");
	ok(!$s->{unordered}, "$what: distances never decrease") or diag($first);
	if ($o{exact})
	{
		is($s->{inexact}, 0, "$what: exactly the brute force's rows (by distance) for every query")
		  or diag(join("\n", @{ $s->{bad} }[ 0 .. ($#{ $s->{bad} } < 4 ? $#{ $s->{bad} } : 4) ]));
	}
	if (defined $o{floor})
	{
		$measured{$what} = $s->{recall};
		cmp_ok($s->{recall}, '>=', $o{floor}, sprintf('%s: recall@10 %.4f is at least %s', $what, $s->{recall}, $o{floor}));
	}
	return;
}

sub participants
{
	my ($err) = @_;
	return [ $err =~ /hnsw build participant indexed (\d+) rows/g ];
}

sub sum { my $s = 0; $s += $_ for @_; return $s; }

# ---------------------------------------------------------------- (a) recall, sift-128, 20,000 rows
# c50 / c10 / c1: 2 / 10 / 100 values, each column its own generator; tag
# (for (d)): 20 text values.  Each of the 50 queries gets its own value
# per column.
{
	my %r = (c50 => seeded_rng(5601), c10 => seeded_rng(5602), c1 => seeded_rng(5603), tag => seeded_rng(5604));
	my @rows = map {
		[ $_, vec_literal($base->[$_]), int($r{c50}->() * 2), int($r{c10}->() * 10), int($r{c1}->() * 100),
			'tag-' . int($r{tag}->() * 20) ]
	} 0 .. $#$base;
	$node->safe_psql('postgres',
		'CREATE TABLE sift (id int, embedding vector(128), c50 int, c10 int, c1 int, tag text)');
	copy_rows($node, 'sift', 'id, embedding, c50, c10, c1, tag', \@rows);
	$node->safe_psql('postgres', 'VACUUM ANALYZE sift');
}
my %nvals = (c50 => 2, c10 => 10, c1 => 100);
my %qval;
for my $c (qw(c50 c10 c1))
{
	my $r = seeded_rng(5605 + $nvals{$c});
	$qval{$c} = [ map { int($r->() * $nvals{$c}) } 0 .. $#$qvecs ];
}
my %a_items = map {
	my $c = $_;
	$c => [ map { [ $qvecs->[$_], "$c = $qval{$c}[$_]" ] } 0 .. $#$qvecs ]
} qw(c50 c10 c1);
my %a_truth = map { $_ => truth_of($node, 'sift', $a_items{$_}, 10) } qw(c50 c10 c1);
is(scalar(grep { @$_ == 10 } map { @{ $a_truth{$_} } } qw(c50 c10 c1)), 150,
	'(a) the brute force finds 10 rows for every query and selectivity');

# Floors: the measured values (serial builds repeat exactly) less one to
# two points.  Measured in three runs over two builds of the
# implementation: 0.998-1.0 at ef_search 40 and 1.0 at 100, for every
# selectivity in both formats; strict_order, LIMIT 50 at ef_search 20:
# 0.986-1.0 (floats), 0.912-1.0 (codes).  A recall collapse at 1 % with 10 rows returned
# catches a walk that does not route through non-matching nodes (it stops
# at the first region without matches); fewer than 10 rows at ef_search 40
# catches ef_search counting every scored node rather than matching ones
# (without filtering in the index: about 4 rows at 10 %, 0.4 at 1 %).
my %floor = (
	0 => { c50 => { 40 => 0.98, 100 => 0.99 }, c10 => { 40 => 0.98, 100 => 0.99 }, c1 => { 40 => 0.98, 100 => 0.99 } },
	4 => { c50 => { 40 => 0.98, 100 => 0.99 }, c10 => { 40 => 0.98, 100 => 0.99 }, c1 => { 40 => 0.98, 100 => 0.99 } },
);
for my $bits (0, 4)
{
	my $idx = "sift_f$bits";
	my $with = $bits ? ', bits = 4' : '';
	my $t0 = time;
	$node->safe_psql('postgres',
		"CREATE INDEX $idx ON sift USING hnsw (embedding vector_l2_ops, c50, c10, c1) WITH (m = 16, ef_construction = 64$with)");
	$measured{"(a) build bits $bits, s"} = time - $t0;
	for my $c (qw(c50 c10 c1))
	{
		plan_ok(knn_explain($node, table => 'sift', item => $a_items{$c}[0], k => 10, settings => index_settings(40)),
			$idx, [$c], "(a) bits $bits, $c");
		for my $ef (40, 100)
		{
			my $r = knn_batch($node, table => 'sift', items => $a_items{$c}, k => 10, settings => index_settings($ef));
			is($r->{ret}, 0, "(a) bits $bits, $c, ef_search $ef: every query ran") or diag($r->{err});
			assert_run(compare_runs($r->{rows}, $a_truth{$c}), "(a) bits $bits, $c = v, ef_search $ef",
				floor => $floor{$bits}{$c}{$ef});
		}
	}

	# The values as runtime keys: one LATERAL query per selectivity, the
	# scan rescanned for every query row.  It must return exactly the
	# literal queries' rows (catches keys taken from the first outer row
	# only, or a rescan that keeps the previous key's matches).
	$node->safe_psql('postgres',
		    'DROP TABLE IF EXISTS fq; CREATE TABLE fq (qid int, q vector(128), v50 int, v10 int, v1 int);'
		  . join('',
			map { "INSERT INTO fq VALUES ($_, '" . vec_literal($qvecs->[$_]) . "', $qval{c50}[$_], $qval{c10}[$_], $qval{c1}[$_]);" }
			  0 .. $#$qvecs));
	for my $c (qw(c10 c1))
	{
		(my $v = $c) =~ s/^c/v/;
		my $lat = "SELECT f.qid, x.id FROM fq f, LATERAL (SELECT id FROM sift WHERE $c = f.$v "
		  . "ORDER BY embedding <-> f.q LIMIT 10) x ORDER BY f.qid";
		my $settings = index_settings(100);
		like($node->safe_psql('postgres', "$settings; EXPLAIN (COSTS OFF) $lat"),
			qr/Index Scan using $idx on sift\s*\n\s*Index Cond: \($c = f\.$v\)/,
			"(a) bits $bits, $c: the LATERAL query is an hnsw scan with the runtime key as Index Cond");
		my %lat;
		push @{ $lat{ $_->[0] } }, $_->[1] for map { [ split /\|/ ] } split /\n/, $node->safe_psql('postgres', "$settings; $lat");
		my $lit = knn_batch($node, table => 'sift', items => $a_items{$c}, k => 10, settings => $settings)->{rows};
		my @diff = grep {
			join(',', sort { $a <=> $b } @{ $lat{$_} // [] }) ne join(',', sort { $a <=> $b } map { $_->[0] } @{ $lit->[$_] })
		} 0 .. $#$qvecs;
		is(scalar @diff, 0, "(a) bits $bits, $c: the LATERAL query returns the literal queries' rows for every query")
		  or diag("first differing query: $diff[0]");
	}

	# An iterative scan goes on past ef_search with the filter still
	# applied (catches a resumed walk that forgets the keys: integer keys
	# are not rechecked, so non-matching rows come back)
	my @it = map { [ $qvecs->[$_], "c1 = $qval{c1}[$_]" ] } 0 .. 9;
	my $r = knn_batch($node, table => 'sift', items => \@it, k => 50,
		settings => index_settings(20, 'SET hnsw.iterative_scan = strict_order'));
	is($r->{ret}, 0, "(a) bits $bits, iterative: the queries ran") or diag($r->{err});
	my $s = compare_runs($r->{rows}, truth_of($node, 'sift', \@it, 50));
	assert_run($s, "(a) bits $bits, c1 = v, strict_order at ef_search 20, LIMIT 50", floor => $bits ? 0.88 : 0.96);
	check_clean($node, $idx, "(a) bits $bits");
	$node->safe_psql('postgres', "DROP INDEX $idx");
}
$measured{'(a) s'} = time - $t_start;

# ---------------------------------------------------------------- (b) types, 3,000 rows
my $t_b = time;
$node->safe_psql('postgres', "CREATE TABLE typed ($typed_ddl)");
copy_rows($node, 'typed', $typed_cols, [ map { typed_row($_, $_) } 0 .. 2999 ]);
# NULL vectors are not indexed: never returned, whatever their values
$node->safe_psql('postgres',
	"INSERT INTO typed (id, embedding, c_int2, c_int4, c_int8, c_text, c_uuid, c_bool) "
	  . "SELECT 100000 + g, NULL, 1, 3, 5, 'red', '$uuids[0]', true FROM generate_series(0, 4) g; ANALYZE typed");

my $tq = [ @$qvecs[ 0 .. 9 ] ];
my $t = sub { sql_text($_[0]) };
# [ label, WHERE, the columns its Index Cond must name ]; what a wrong
# answer would mean is in the label.  (Planted: without
# the NULL tests of HnswFilterMatch and of the tag pages' candidates,
# 'int2 = 0' returns rows whose c_int2 is NULL, here and in (c) and (d).)
my @conds = (
	[ 'unfiltered', '', [] ],
	[ 'int2 = 0 (a NULL is not 0)', 'c_int2 = 0', ['c_int2'] ],
	[ 'int2 = -1 (sign)', 'c_int2 = -1', ['c_int2'] ],
	[ 'int2 = int4', 'c_int2 = 5', ['c_int2'] ],
	[ 'int2 = int8', 'c_int2 = 5::int8', ['c_int2'] ],
	[ 'int2 = int2', 'c_int2 = 4::int2', ['c_int2'] ],
	[ 'int2 = 65541 (no row; 5 in 16 bits)', 'c_int2 = 65541', ['c_int2'] ],
	[ 'int2 IN', 'c_int2 IN (1, 2)', ['c_int2'] ],
	[ 'int2 IN with a NULL (NULL matches nothing)', 'c_int2 IN (3, NULL)', ['c_int2'] ],
	[ 'int2 = ANY(int8[])', 'c_int2 = ANY (ARRAY[-2, 6]::int8[])', ['c_int2'] ],
	[ 'int4 = int4', 'c_int4 = 3', ['c_int4'] ],
	[ 'int4 = int8', 'c_int4 = 3::int8', ['c_int4'] ],
	[ 'int4 = int2', 'c_int4 = 3::int2', ['c_int4'] ],
	[ 'int4 = 2^32 + 3 (no row; 3 in 32 bits)', 'c_int4 = 4294967299', ['c_int4'] ],
	[ 'int4 = -1 (no row)', 'c_int4 = -1', ['c_int4'] ],
	[ 'int4 IN', 'c_int4 IN (1, 7)', ['c_int4'] ],
	[ 'int4 = ANY(array)', 'c_int4 = ANY (ARRAY[2, 4, 8])', ['c_int4'] ],
	[ 'int8 = int4 5 (not 2^32 + 5)', 'c_int8 = 5', ['c_int8'] ],
	[ 'int8 = 2^32 + 5 (not 5)', 'c_int8 = 4294967301', ['c_int8'] ],
	[ 'int8 = int2 -1 (not 2^32 - 1)', 'c_int8 = (-1)::int2', ['c_int8'] ],
	[ 'int8 = 2^32 - 1 (not -1)', 'c_int8 = 4294967295', ['c_int8'] ],
	[ 'int8 = 2^40 + 7', 'c_int8 = 1099511627783', ['c_int8'] ],
	[ 'int8 IN', 'c_int8 IN (0, -4294967297)', ['c_int8'] ],
	[ "text = 'red' (not Red, RED, 'red ')", "c_text = 'red'", ['c_text'] ],
	[ "text = 'Red'", "c_text = 'Red'", ['c_text'] ],
	[ "text = ''", "c_text = ''", ['c_text'] ],
	[ "text = 'red '", "c_text = 'red '", ['c_text'] ],
	[ 'text = non-ASCII', 'c_text = ' . $t->("gr\xc3\xbcn"), ['c_text'] ],
	[ 'text = compressed 3,000 bytes', 'c_text = ' . $t->($longrep), ['c_text'] ],
	[ 'text = out-of-line 3,000 bytes', 'c_text = ' . $t->($longrnd), ['c_text'] ],
	[ 'text = absent', "c_text = 'nothing'", ['c_text'] ],
	[ 'text IN', "c_text IN ('blue', 'RED')", ['c_text'] ],
	[ 'text = ANY(array)', "c_text = ANY (ARRAY['grun', 'Red'])", ['c_text'] ],
	[ 'uuid =', "c_uuid = '$uuids[3]'", ['c_uuid'] ],
	[ 'uuid IN', "c_uuid IN ('$uuids[1]', '$uuids[7]')", ['c_uuid'] ],
	[ 'uuid = absent', "c_uuid = '$absent_uuid'", ['c_uuid'] ],
	[ 'bool = true', 'c_bool = true', ['c_bool'] ],
	[ 'bool = false', 'c_bool = false', ['c_bool'] ],
	[ 'int4 AND text', "c_int4 = 3 AND c_text = 'red'", [ 'c_int4', 'c_text' ] ],
	[ 'int2 AND int8 AND bool', 'c_int2 = 1 AND c_int8 = 5 AND c_bool = true', [ 'c_int2', 'c_int8', 'c_bool' ] ],
	[ 'int4 IN AND uuid', "c_int4 IN (1, 2) AND c_uuid = '$uuids[5]'", [ 'c_int4', 'c_uuid' ] ],
	[ 'int2 = int8 AND text IN', "c_int2 = 2::int8 AND c_text IN ('blue', '')", [ 'c_int2', 'c_text' ] ],
);

# How many rows each WHERE passes (a walk with at most ef_search matches
# is exhaustive, so exact)
sub match_counts
{
	my ($n, $table, $conds) = @_;
	return [
		split /\n/,
		$n->safe_psql('postgres',
			"$exact_settings;\n"
			  . join('', map { "SELECT count(*) FROM $table WHERE embedding IS NOT NULL"
					  . ($_->[1] eq '' ? '' : " AND ($_->[1])") . ";\n" } @$conds))
	];
}

# The (b) comparisons of every WHERE in @$conds on $table through $index
# (the others of @$all dropped for it) at ef_search $ef: the plan, then
# the rows against the brute force, with hnsw.iterative_scan off.  $what
# names the moment.
sub typed_suite
{
	my ($n, %o) = @_;
	my ($table, $index, $conds, $ef, $what) = @o{qw(table index conds ef what)};
	my @others = grep { $_ ne $index } @{ $o{all} // [$index] };
	my %x = (others => @others ? \@others : undef);
	my $counts = match_counts($n, $table, $conds);
	my (@items, @owner);
	for my $c (0 .. $#$conds)
	{
		push @items, map { [ $_, $conds->[$c][1] ] } @$tq;
		push @owner, ($c) x @$tq;
	}
	my $settings = index_settings($ef);
	my $truth = truth_of($n, $table, \@items, 10);
	my $r = knn_batch($n, table => $table, items => \@items, k => 10, settings => $settings, %x);
	is($r->{ret}, 0, "$what: every query through $index ran (iterative off)") or diag($r->{err});
	my ($hits, $wanted) = (0, 0);
	for my $c (0 .. $#$conds)
	{
		my ($label, $where, $cols) = @{ $conds->[$c] };
		my @i = grep { $owner[$_] == $c } 0 .. $#owner;
		if (!$o{no_plans})
		{
			plan_ok(knn_explain($n, table => $table, item => $items[ $i[0] ], k => 10, settings => $settings, %x),
				$index, $cols, "$what: $label");
		}
		my $s = compare_runs([ @{ $r->{rows} }[@i] ], [ @{$truth}[@i] ]);
		my $exhaustive = $counts->[$c] <= $ef;
		assert_run($s, "$what: $label ($counts->[$c] rows pass)", exact => $exhaustive);
		$hits += $s->{hits}, $wanted += $s->{wanted} unless $exhaustive;
	}
	my $rec = $wanted ? $hits / $wanted : 1;
	my $which = "Index Conds where more than $ef rows pass";
	$measured{"$what: recall, $which"} = $rec;
	cmp_ok($rec, '>=', $o{floor} // 0.99, sprintf("$what: recall@10 %.4f, $which", $rec));
	return;
}

my @typed_idx = qw(typed_b0 typed_b4);
my $typed_keys = 'embedding vector_l2_ops, ' . join(', ', @tcols);
$node->safe_psql('postgres', "CREATE INDEX typed_b0 ON typed USING hnsw ($typed_keys)");
$node->safe_psql('postgres', "CREATE INDEX typed_b4 ON typed USING hnsw ($typed_keys) WITH (bits = 4)");
for my $idx (@typed_idx)
{
	typed_suite($node, table => 'typed', index => $idx, all => \@typed_idx, conds => \@conds, ef => 400,
		what => "(b) $idx");
}

# Parameters: a generic plan takes the WHERE value as $1 (a runtime key,
# as a client's prepared statement sends it).  A NULL $1 matches nothing
# (catches a NULL key taken as 0 or as "no condition", or a crash on it).
for my $idx (@typed_idx)
{
	my ($other) = grep { $_ ne $idx } @typed_idx;
	my $lit = "'" . vec_literal($tq->[0]) . "'";
	my $pre = "BEGIN; DROP INDEX $other; " . index_settings(400) . "; SET plan_cache_mode = force_generic_plan; "
	  . "PREPARE p2(int2, vector) AS SELECT id FROM typed WHERE c_int2 = \$1 ORDER BY embedding <-> \$2 LIMIT 10; "
	  . "PREPARE pt(text, vector) AS SELECT id FROM typed WHERE c_text = \$1 ORDER BY embedding <-> \$2 LIMIT 10; "
	  . "PREPARE pa(int[], vector) AS SELECT id FROM typed WHERE c_int4 = ANY(\$1) ORDER BY embedding <-> \$2 LIMIT 10; ";
	like($node->safe_psql('postgres', "$pre EXPLAIN (COSTS OFF) EXECUTE p2(1, $lit); ROLLBACK"),
		qr/Index Scan using $idx on typed\s*\n\s*Index Cond: \(c_int2 = \$1\)/,
		"(b) $idx: the generic plan has the parameter as Index Cond");
	my @cases = (
		[ 'p2(1', 'c_int2 = 1' ], [ 'p2(NULL', 'false' ], [ "pt('red'", "c_text = 'red'" ],
		[ 'pt(NULL', 'false' ], [ "pa('{1,NULL,2}'", 'c_int4 IN (1, 2)' ], [ 'pa(NULL', 'false' ],
	);
	for my $c (@cases)
	{
		my ($ret, $out, $err) = $node->psql('postgres', "$pre EXECUTE $c->[0], $lit); ROLLBACK");
		my $want = $node->safe_psql('postgres',
			"$exact_settings; SELECT id FROM typed WHERE $c->[1] ORDER BY embedding <-> $lit LIMIT 10");
		is("$ret|$out", "0|$want", "(b) $idx: EXECUTE $c->[0], q) returns the brute force's rows") or diag($err);
	}
}

# NULL runtime keys in a join: no row for the NULL (catches NULL keys
# matching the rows whose column is NULL)
{
	my $lat = 'SELECT v.x, count(x.id), count(*) FILTER (WHERE x.c_int2 IS DISTINCT FROM v.x) FROM '
	  . '(VALUES (NULL::int2), (1::int2), (NULL), (2)) v(x) LEFT JOIN LATERAL (SELECT id, c_int2 FROM typed '
	  . "WHERE c_int2 = v.x ORDER BY embedding <-> '" . vec_literal($tq->[1]) . "' LIMIT 10) x ON true "
	  . 'GROUP BY v.x ORDER BY v.x NULLS FIRST';
	is($node->safe_psql('postgres', index_settings(400) . "; $lat"), "|0|0\n1|10|0\n2|10|0",
		'(b) LATERAL with NULL keys: nothing for NULL, 10 matching rows for 1 and 2');
}

# Without ORDER BY the index cannot rank: the planner must not pick it,
# or the scan must return every matching row (catches an unordered path
# priced in, which errors or returns ef_search rows)
for my $q (
	[ 'count', 'SELECT count(*) FROM typed WHERE c_int4 = 3' ],
	[ 'ids', "SELECT string_agg(id::text, ',' ORDER BY id) FROM typed WHERE c_text = 'red' AND c_int2 = 1" ])
{
	my $want = $node->safe_psql('postgres', "$exact_settings; $q->[1]");
	my ($ret, $out, $err) = $node->psql('postgres', 'SET enable_seqscan = off; SET enable_bitmapscan = off; ' . $q->[1]);
	is("$ret|$out", "0|$want", "(b) without ORDER BY ($q->[0]): the brute force's answer") or diag($err);
}

# Conditions the index may not take (IS NULL, a bare boolean): whatever
# the plan, only rows that pass, in order
for my $w ('c_int2 IS NULL', 'c_bool', 'NOT c_bool')
{
	my @items = map { [ $_, $w ] } @$tq;
	my $r = knn_batch($node, table => 'typed', items => \@items, k => 10, settings => index_settings(400),
		others => ['typed_b4']);
	is($r->{ret}, 0, "(b) WHERE $w ran") or diag($r->{err});
	my $s = compare_runs($r->{rows}, truth_of($node, 'typed', \@items, 10));
	ok(!$s->{wrong} && !$s->{dup} && !$s->{unordered} && !$s->{extra}, "(b) WHERE $w: only passing rows, in order")
	  or diag($s->{bad}[0]);
}

# Hash collisions: the index keeps text, uuid and int8 values as 32-bit
# hashes (the low 32 bits of hashtextextended / uuid_hash_extended /
# hashint8extended with seed 0, as src/hnsw/hnswfilter.c makes them), so a
# node whose value only collides with the key passes the walk's filter and
# the executor must recheck the condition (xs_recheck).  Two colliding
# values of each type, found by the server among 400,000: 2,000 rows, a
# fifth with the first of each pair, a fifth with the second, the rest
# other values; at ef_search 1000 the walk collects every node whose hash
# matches (800), so the answers must be exactly the brute force's
# (catches a missing or partial recheck: the partner's rows come back;
# with both conditions ANDed, rows matching neither, by hash only, come
# back where the brute force has none).  If the index ever hashes
# otherwise, the values no longer collide there and this is an ordinary
# equality check (the EXPLAIN ANALYZE check below then says so).
# (Planted: HnswFilterLossy returning false fails every check here, and
# the int8 -1 / 2^32 - 1 WHEREs above.)
{
	my $pair = sub {
		my ($expr, $gen) = @_;
		my $p = $node->safe_psql('postgres',
			"SELECT min(v::text) || '|' || max(v::text) FROM (SELECT $gen AS v FROM generate_series(1, 400000) g) x "
			  . "GROUP BY $expr & 4294967295 HAVING count(*) = 2 LIMIT 1");
		return split /\|/, $p;
	};
	my @tp = $pair->('hashtextextended(v, 0)', "'k' || g");
	my @ip = $pair->('hashint8extended(v, 0)', 'g::int8');
	my @up = $pair->('uuid_hash_extended(v, 0)', 'md5(g::text)::uuid');
	is(scalar(@tp) + scalar(@ip) + scalar(@up), 6, '(b) collisions: a colliding pair of each type was found')
	  or diag("@tp / @ip / @up");
	$node->safe_psql('postgres', 'CREATE TABLE coll (id int, embedding vector(128), c_text text, c_int8 int8, c_uuid uuid)');
	copy_rows($node, 'coll', 'id, embedding, c_text, c_int8, c_uuid',
		[ map { my $w = $_ % 5; [ $_, vec_literal($base->[$_]), $w < 2 ? ($tp[$w], $ip[$w], $up[$w]) : ('z', 0, $uuids[0]) ] } 0 .. 1999 ]);
	$node->safe_psql('postgres',
		    'ANALYZE coll;'
		  . 'CREATE INDEX coll_b0 ON coll USING hnsw (embedding vector_l2_ops, c_text, c_int8, c_uuid);'
		  . 'CREATE INDEX coll_b4 ON coll USING hnsw (embedding vector_l2_ops, c_text, c_int8, c_uuid) WITH (bits = 4)');
	my @cc = (
		(map { [ "text = $tp[$_] (its hash partner's rows are not)", "c_text = '$tp[$_]'", ['c_text'] ] } 0, 1),
		(map { [ "int8 = $ip[$_]", "c_int8 = $ip[$_]", ['c_int8'] ] } 0, 1),
		(map { [ "uuid = $up[$_]", "c_uuid = '$up[$_]'", ['c_uuid'] ] } 0, 1),
		[ 'text AND int8 of partners (no row)', "c_text = '$tp[0]' AND c_int8 = $ip[1]", [ 'c_text', 'c_int8' ] ],
		[ 'uuid AND text of partners (no row)', "c_uuid = '$up[1]' AND c_text = '$tp[0]'", [ 'c_uuid', 'c_text' ] ],
	);
	for my $idx (qw(coll_b0 coll_b4))
	{
		my ($other) = grep { $_ ne $idx } qw(coll_b0 coll_b4);
		typed_suite($node, table => 'coll', index => $idx, all => [qw(coll_b0 coll_b4)], conds => \@cc, ef => 1000,
			what => "(b) collisions, $idx");
		# the pairs do collide in the index: the executor's recheck removes
		# the partner's rows (if this fails, the index hashes otherwise, and
		# the pairs must be found with its hash for the checks above to bite)
		for my $c (@cc[ 0, 2, 4 ])
		{
			my $ea = $node->safe_psql('postgres',
				"BEGIN; DROP INDEX $other; " . index_settings(1000)
				  . "; EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT id FROM coll WHERE $c->[1] "
				  . "ORDER BY embedding <-> '" . vec_literal($tq->[0]) . "' LIMIT 10; ROLLBACK");
			like($ea, qr/Index Cond: .*\n.*Rows Removed by Index Recheck: [1-9]/,
				"(b) collisions, $idx: $c->[0]: the partner's rows reach the recheck, which removes them");
		}
	}
	$node->safe_psql('postgres', 'DROP TABLE coll');
}

# A case-insensitive (nondeterministic) collation: equality is not
# byte equality, so a byte hash misses 'Red' for 'RED'.  CREATE INDEX must
# refuse the column, or the answers must be the brute force's.
{
	my ($ret, undef, $err) = $node->psql('postgres',
		"CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)");
	SKIP:
	{
		skip "no ICU: $err", 1 if $ret;
		$node->safe_psql('postgres',
			'CREATE TABLE cit (id int, embedding vector(128), c_ci text COLLATE ci);'
			  . 'INSERT INTO cit SELECT id, embedding, c_text FROM typed WHERE id < 3000; ANALYZE cit');
		my ($cret, undef, $cerr) = $node->psql('postgres',
			'CREATE INDEX cit_idx ON cit USING hnsw (embedding vector_l2_ops, c_ci)');
		if ($cret)
		{
			like($cerr, qr/collation|deterministic|hnsw/i, '(b) nondeterministic collation: CREATE INDEX refuses it');
		}
		else
		{
			my @items = map { my $q = $_; map { [ $q, $_ ] } "c_ci = 'RED'", "c_ci = 'GRUN'", "c_ci IN ('blue', 'RED ')" } @$tq;
			my $r = knn_batch($node, table => 'cit', items => \@items, k => 10, settings => index_settings(400));
			is($r->{ret}, 0, '(b) nondeterministic collation: the queries ran') or diag($r->{err});
			my $s = compare_runs($r->{rows}, truth_of($node, 'cit', \@items, 10));
			is($s->{inexact} + $s->{short} + $s->{wrong}, 0,
				"(b) nondeterministic collation: the index was built, and answers as the brute force (case-insensitive)")
			  or diag($s->{bad}[0]);
		}
		$node->safe_psql('postgres', 'DROP TABLE cit');
	}
}
$measured{'(b) s'} = time - $t_b;

# ---------------------------------------------------------------- (c) changes after the build
my $t_c = time;
# New values: int4 10 and 11, text 'violet', int8 2^33 + 1, int2 7 (out
# of the build's range), uuids no row had.  A node written without its
# values, or with another row's, is not found under its own.
my @new_uuids = map { uuid_from($ur) } 1 .. 3;
sub new_values
{
	my ($i) = @_;
	my %v;
	$v{c_int4} = 10 + $i % 2 if $i % 3 == 0;
	$v{c_text} = 'violet' if $i % 4 == 0;
	$v{c_int8} = 8589934593 if $i % 5 == 0;
	$v{c_int2} = 7 if $i % 6 == 0;
	$v{c_uuid} = $new_uuids[ $i % 3 ] if $i % 7 == 0;
	return %v;
}
copy_rows($node, 'typed', $typed_cols, [ map { typed_row($_, $_, new_values($_)) } 3000 .. 3599 ]);
sub insert_values
{
	my ($r) = @_;
	return '(' . join(', ', map { defined $_ ? sql_text($_) : 'NULL' } @$r) . ')';
}
$node->safe_psql('postgres',
	"INSERT INTO typed ($typed_cols) VALUES "
	  . join(', ', map { insert_values(typed_row($_, $_, new_values($_))) } 3600 .. 3899));
$node->safe_psql('postgres',
	join '', map { "INSERT INTO typed ($typed_cols) VALUES " . insert_values(typed_row($_, $_, new_values($_))) . ";\n" }
	  3900 .. 3999);
$node->safe_psql('postgres', 'ANALYZE typed');

my @new_conds = (
	[ 'new int4 10', 'c_int4 = 10', ['c_int4'] ],
	[ 'new int4 11 (int8 constant)', 'c_int4 = 11::int8', ['c_int4'] ],
	[ "new text 'violet'", "c_text = 'violet'", ['c_text'] ],
	[ 'new int8 2^33 + 1', 'c_int8 = 8589934593', ['c_int8'] ],
	[ 'new int8 2^33 + 1 low bits (no row)', 'c_int8 = 1', ['c_int8'] ],
	[ 'new int2 7', 'c_int2 = 7', ['c_int2'] ],
	[ 'new uuid', "c_uuid = '$new_uuids[1]'", ['c_uuid'] ],
	[ 'new int4 AND old text', "c_int4 = 10 AND c_text = 'blue'", [ 'c_int4', 'c_text' ] ],
);
# a few of (b)'s WHEREs, and all of them at the end
my @some_conds = @conds[ 0, 1, 3, 8, 10, 15, 17, 23, 28, 29, 33, 36, 38 ];
for my $idx (@typed_idx)
{
	typed_suite($node, table => 'typed', index => $idx, all => \@typed_idx, conds => [ @new_conds, @some_conds ],
		ef => 400, what => "(c) after inserts, $idx", no_plans => $idx ne 'typed_b0');
}

# Self-lookups: ids of the rows of $rows_where (on i) that a k = 1 search
# for their own vector under $match (on j and i) does not return, through
# $index.  ef_search 200.
sub self_missing
{
	my ($n, $table, $index, $all, $rows_where, $match) = @_;
	my @others = grep { $_ ne $index } @$all;
	my $q = "SELECT string_agg(i.id::text, ',') FROM $table i WHERE i.embedding IS NOT NULL AND $rows_where AND "
	  . "(SELECT j.id FROM $table j WHERE $match ORDER BY j.embedding <-> i.embedding LIMIT 1) IS DISTINCT FROM i.id";
	my $pre = (@others ? 'BEGIN; ' . join('', map { "DROP INDEX $_; " } @others) : '') . index_settings(200) . '; ';
	my $plan = $n->safe_psql('postgres', "${pre}EXPLAIN (COSTS OFF) $q" . (@others ? '; ROLLBACK' : ''));
	my ($ret, $out, $err) = $n->psql('postgres', "$pre$q" . (@others ? '; ROLLBACK' : ''));
	return "the lookup failed: $err" if $ret;
	return "not an hnsw scan on $index with an Index Cond (missed: $out):\n$plan"
	  unless $plan =~ /Index Scan using $index on $table j\s*\n\s*Index Cond:/;
	return $out;
}

# UPDATE 200 rows: int4 to 12, text to 'moved-N'.  The UPDATE changes
# indexed columns, so new tuples get new index entries; the old entries
# point to dead tuples.
my $upd = 'id % 20 = 7 AND id < 4000';
my %old = map { my ($id, $c4, $ct) = split /\|/; $id => [ $c4, $ct ] } split /\n/,
  $node->safe_psql('postgres', "SELECT id, c_int4, coalesce(c_text, '<null>') FROM typed WHERE $upd");
is(scalar keys %old, 200, '(c) 200 rows to update');
$node->safe_psql('postgres', "UPDATE typed SET c_int4 = 12, c_text = 'moved-' || (id % 3) WHERE $upd");
$node->safe_psql('postgres',
	'CREATE TABLE old_vals (id int, c_int4 int, c_text text);'
	  . 'INSERT INTO old_vals VALUES '
	  . join(', ', map { "($_, $old{$_}[0], " . ($old{$_}[1] eq '<null>' ? 'NULL' : sql_text($old{$_}[1])) . ')' } sort { $a <=> $b } keys %old));
for my $idx (@typed_idx)
{
	# the new values find every updated row (catches an insert that stores
	# the old tuple's values, or the index entry of the new tuple missing)
	is(self_missing($node, 'typed', $idx, \@typed_idx, "i.c_int4 + 0 = 12", 'j.c_int4 = i.c_int4'), '',
		"(c) $idx: every updated row is found under its new int4 value");
	is(self_missing($node, 'typed', $idx, \@typed_idx, "i.c_text LIKE 'moved-%'", 'j.c_text = i.c_text'), '',
		"(c) $idx: every updated row is found under its new text value");
	# the old values do not (catches the new tuple's entry holding the old
	# values: an int4 key is not rechecked, so the new row comes back
	# under the old value)
	my @others = grep { $_ ne $idx } @typed_idx;
	my $stale = $node->safe_psql('postgres',
		"BEGIN; DROP INDEX @others; " . index_settings(200) . '; '
		  . "SELECT string_agg(o.id::text, ',') FROM old_vals o JOIN typed i ON i.id + 0 = o.id WHERE "
		  . "(SELECT j.id FROM typed j WHERE j.c_int4 = o.c_int4 ORDER BY j.embedding <-> i.embedding LIMIT 1) = o.id "
		  . "OR (SELECT j.id FROM typed j WHERE j.c_text = o.c_text ORDER BY j.embedding <-> i.embedding LIMIT 1) = o.id; ROLLBACK");
	is($stale, '', "(c) $idx: no updated row is found under its old int4 or text value");
}

# A HOT update (a column no index has): the entry still leads to the row
$node->safe_psql('postgres', 'UPDATE typed SET note = 1 WHERE id % 31 = 0');
for my $idx (@typed_idx)
{
	is(self_missing($node, 'typed', $idx, \@typed_idx, 'i.id % 31 = 0', 'j.c_int4 = i.c_int4'), '',
		"(c) $idx: rows updated in place (HOT) are found under their int4 value");
}

# DELETE a third, VACUUM: the deleted rows' nodes are freed
$node->safe_psql('postgres', 'DELETE FROM typed WHERE id % 3 = 0');
$node->safe_psql('postgres', 'VACUUM typed');
# 800 rows into the freed slots, with int4 20 and 21, text 'after', and
# otherwise (b)'s values of other rows: a reused slot that kept the old
# row's values is found under the old (int4 not rechecked: a wrong row),
# not under the new
copy_rows($node, 'typed', $typed_cols,
	[ map { typed_row($_, $_, c_int4 => 20 + $_ % 2, ($_ % 2 ? (c_text => 'after') : ())) } 4000 .. 4799 ]);
$node->safe_psql('postgres', 'ANALYZE typed');
my @after_conds = (
	[ 'int4 20 (after VACUUM)', 'c_int4 = 20', ['c_int4'] ],
	[ 'int4 21 (after VACUUM)', 'c_int4 = 21', ['c_int4'] ],
	[ "text 'after'", "c_text = 'after'", ['c_text'] ],
	[ 'updated int4 12', 'c_int4 = 12', ['c_int4'] ],
	[ "updated text 'moved-1'", "c_text = 'moved-1'", ['c_text'] ],
);
for my $idx (@typed_idx)
{
	typed_suite($node, table => 'typed', index => $idx, all => \@typed_idx, conds => [ @after_conds, @new_conds, @some_conds ],
		ef => 400, what => "(c) after DELETE, VACUUM, inserts, $idx", no_plans => 1);
	is(self_missing($node, 'typed', $idx, \@typed_idx, 'i.id >= 4000', 'j.c_int4 = i.c_int4'), '',
		"(c) $idx: every row inserted after VACUUM is found under its int4 value");
	check_clean($node, $idx, '(c) after VACUUM and inserts');
}
$measured{'(c) s'} = time - $t_c;

# ---------------------------------------------------------------- (d) parallel and spilled builds
my $t_d = time;
$node->safe_psql('postgres', 'ALTER TABLE sift SET (parallel_workers = 2)');
my $r1 = seeded_rng(5640);
my @tag_items = map { [ $qvecs->[$_], "tag = 'tag-" . int($r1->() * 20) . "'" ] } 0 .. $#$qvecs;
my $tag_truth = truth_of($node, 'sift', \@tag_items, 10);

# CREATE INDEX with two workers allowed and client_min_messages = debug2
# (the participants' counts come through): exit code and stderr
sub build_with
{
	my ($n, $mem, $workers, $sql) = @_;
	my ($ret, $out, $err) = $n->psql('postgres',
		"SET max_parallel_maintenance_workers = $workers; SET maintenance_work_mem = '$mem'; "
		  . "SET client_min_messages = debug2; $sql");
	return ($ret, $err);
}

# The workers carry each row's filter values into the shared graph and
# the leader writes them (catches values lost or taken from another row
# in a worker: rows are not found under their values, recall collapses,
# or the check reports stored values that differ from the heap row's)
for my $bits (0, 4)
{
	my $idx = "sift_par$bits";
	my $t0 = time;
	my ($ret, $err) = build_with($node, '256MB', 2,
		"CREATE INDEX $idx ON sift USING hnsw (embedding vector_l2_ops, c10, tag) WITH (m = 16, ef_construction = 64"
		  . ($bits ? ', bits = 4' : '') . ')');
	$measured{"(d) parallel build bits $bits, s"} = time - $t0;
	is($ret, 0, "(d) parallel build bits $bits succeeds") or diag($err);
	like($err, qr/using 2 parallel workers/, "(d) parallel build bits $bits: two workers");
	my $counts = participants($err);
	is(sum(@$counts), 20000, "(d) parallel build bits $bits: the participants indexed every row between them ("
		  . join(', ', @$counts) . ')');
	check_clean($node, $idx, "(d) parallel build bits $bits");
	plan_ok(knn_explain($node, table => 'sift', item => $tag_items[0], k => 10, settings => index_settings(100)),
		$idx, ['tag'], "(d) parallel build bits $bits, tag");
	for my $w ([ 'c10', $a_items{c10}, $a_truth{c10} ], [ 'tag', \@tag_items, $tag_truth ])
	{
		my $r = knn_batch($node, table => 'sift', items => $w->[1], k => 10, settings => index_settings(100));
		is($r->{ret}, 0, "(d) parallel build bits $bits, $w->[0]: the queries ran") or diag($r->{err});
		assert_run(compare_runs($r->{rows}, $w->[2]), "(d) parallel build bits $bits, $w->[0] = v, ef_search 100",
			floor => 0.97);
	}
	$node->safe_psql('postgres', "DROP INDEX $idx");
}

# Builds that spill: 6,000 rows with (b)'s columns in 1 MB; the graph
# fills, is written, and the rest are inserted on disk (catches the
# on-disk insert path of the build writing nodes without their values,
# or values the written graph's nodes lose)
$node->safe_psql('postgres', "CREATE TABLE spill ($typed_ddl) WITH (parallel_workers = 2)");
copy_rows($node, 'spill', $typed_cols, [ map { typed_row($_, $_) } 0 .. 5999 ]);
$node->safe_psql('postgres', 'ANALYZE spill');
for my $b ([ 'spill_b0', 0, '' ], [ 'spill_b4', 2, ' WITH (bits = 4)' ])
{
	my ($idx, $workers, $with) = @$b;
	my $t0 = time;
	my ($ret, $err) = build_with($node, '1MB', $workers, "CREATE INDEX $idx ON spill USING hnsw ($typed_keys)$with");
	$measured{"(d) $idx build, s"} = time - $t0;
	is($ret, 0, "(d) $idx: the build succeeds") or diag($err);
	like($err, qr/NOTICE:  hnsw graph no longer fits into maintenance_work_mem/, "(d) $idx: the build spilled (the NOTICE)");
	like($err, qr/using 2 parallel workers/, "(d) $idx: two workers") if $workers;
	check_clean($node, $idx, "(d) $idx");
	typed_suite($node, table => 'spill', index => $idx, conds => [ @conds[ 0, 1, 3, 7, 13, 18, 23, 29, 33, 36, 38, 39 ] ],
		ef => 400, what => "(d) $idx", no_plans => 1);
	$node->safe_psql('postgres', "DROP INDEX $idx");
}
$node->safe_psql('postgres', 'DROP TABLE spill');
$measured{'(d) s'} = time - $t_d;

# ---------------------------------------------------------------- (g) errors
# Each CREATE INDEX fails, on a table with rows and on an empty one
# (catches a check made only while rows are indexed), and leaves no index
$node->safe_psql('postgres',
	'CREATE TABLE bad (id int, embedding vector(3), other vector(3), f8 float8, c int);'
	  . "CREATE TABLE bad_empty (LIKE bad); INSERT INTO bad VALUES (1, '[1,2,3]', '[1,1,1]', 1.5, 1)");
for my $tbl (qw(bad bad_empty))
{
	for my $c (
		[ 'a float8 filter column', 'embedding vector_l2_ops, f8' ],
		[ 'a second vector column', 'embedding vector_l2_ops, other vector_l2_ops' ],
		[ 'the vector column second', 'c, embedding vector_l2_ops' ],
		[ 'a filter column alone', 'c' ])
	{
		$node->safe_psql('postgres', 'DROP INDEX IF EXISTS bad_idx');
		my ($ret, undef, $err) = $node->psql('postgres', "CREATE INDEX bad_idx ON $tbl USING hnsw ($c->[1])");
		isnt($ret, 0, "(g) $tbl: CREATE INDEX with $c->[0] fails");
		like($err, qr/ERROR: .*hnsw/s, "(g) $tbl: CREATE INDEX with $c->[0]: the error names hnsw") or diag($err);
	}
	is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = 'bad_idx'"), '0',
		"(g) $tbl: no index was left");
}
$node->safe_psql('postgres', 'DROP TABLE bad, bad_empty');

# ---------------------------------------------------------------- (f) crash recovery
my $t_f = time;
$node->safe_psql('postgres', "CREATE TABLE crash ($typed_ddl)");
copy_rows($node, 'crash', $typed_cols, [ map { typed_row($_, $_) } 0 .. 1999 ]);
$node->safe_psql('postgres',
	    'CHECKPOINT;'
	  . "CREATE INDEX crash_b0 ON crash USING hnsw ($typed_keys);"
	  . "CREATE INDEX crash_b4 ON crash USING hnsw ($typed_keys) WITH (bits = 4)");
my @crash_idx = qw(crash_b0 crash_b4);
# 1,000 rows in one committed COPY, 100 single-row commits, with new
# values too
copy_rows($node, 'crash', $typed_cols, [ map { typed_row($_, $_, new_values($_)) } 2000 .. 2999 ]);
$node->safe_psql('postgres',
	join '', map { "INSERT INTO crash ($typed_cols) VALUES " . insert_values(typed_row($_, $_, new_values($_))) . ";\n" }
	  3000 .. 3099);
# 300 rows of a transaction still open at the stop (their nodes are in
# the indexes, their rows never commit)
my ($h, $hout, $herr) = psql_bg($node,
	"BEGIN;\nINSERT INTO crash SELECT id + 100000, embedding, c_int2, c_int4, c_int8, c_text, c_uuid, c_bool, note "
	  . "FROM crash WHERE id < 300;\nSELECT pg_sleep(300);\n");
my $open = 0;
for (1 .. 600)
{
	$open = $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(300)%' AND state = 'active'");
	last if $open;
	usleep(100_000);
}
ok($open, '(f) the open transaction inserted its rows and waits');
$node->stop('immediate');
eval { $h->finish; };
$node->start;
is($node->safe_psql('postgres', 'SELECT count(*), count(*) FILTER (WHERE id >= 100000) FROM crash'),
	'3100|0', '(f) every committed row is there after recovery, none of the open transaction');
# every committed row found under its own int4 value, the inserted ones
# under their text value too (catches an insert's redo that restores the
# node but not its filter values, or the build's values not durable: the
# rows are then not found under their values)
for my $idx (@crash_idx)
{
	is(self_missing($node, 'crash', $idx, \@crash_idx, 'true', 'j.c_int4 = i.c_int4'), '',
		"(f) after recovery, $idx: every committed row is found by its own vector under its int4 value");
	is(self_missing($node, 'crash', $idx, \@crash_idx, 'i.id >= 2000 AND i.c_text IS NOT NULL', 'j.c_text = i.c_text'), '',
		"(f) after recovery, $idx: every inserted row is found by its own vector under its text value");
}
# VACUUM flags the open transaction's nodes; the check then compares
# every live node's values with its heap row
$node->safe_psql('postgres', 'VACUUM crash');
for my $idx (@crash_idx)
{
	check_clean($node, $idx, '(f) after recovery and VACUUM');
	is(self_missing($node, 'crash', $idx, \@crash_idx, 'i.id >= 2000', 'j.c_int4 = i.c_int4'), '',
		"(f) after VACUUM, $idx: every inserted row is still found under its int4 value");
}
is_deeply([ server_log_problems($node) ], [], 'no crash, PANIC or failed assertion in the log');
$node->stop;
$measured{'(f) s'} = time - $t_f;

# ---------------------------------------------------------------- (e) WAL and a streaming standby
my $t_e = time;
my $primary = PostgreSQL::Test::Cluster->new('filter_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf',
	"wal_consistency_checking = 'all'\nmax_parallel_workers_per_gather = 0\nautovacuum = off\n"
	  . "max_parallel_maintenance_workers = 0\nwal_keep_size = '2GB'");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION vector');
for my $tbl (qw(walt0 walt4))
{
	$primary->safe_psql('postgres', "CREATE TABLE $tbl ($typed_ddl)");
	copy_rows($primary, $tbl, $typed_cols, [ map { typed_row($_, $_) } 0 .. 1999 ]);
}
$primary->backup('b1');
my $standby = PostgreSQL::Test::Cluster->new('filter_standby');
$standby->init_from_backup($primary, 'b1', has_streaming => 1);
$standby->start;

my @wconds = ("c_int4 = 3", "c_text = 'red'", 'c_int2 = 1', 'c_int8 = 4294967301', "c_int4 = 2 AND c_uuid = '$uuids[2]'");
my @witems = map { my $q = $_; map { [ $q, $_ ] } @wconds } @$qvecs[ 0 .. 19 ];
# the standby's indexes answer as the primary's (catches filter values
# that redo does not rebuild byte for byte: the consistency check stops
# the standby with "inconsistent page found", or its answers differ)
sub same_answers
{
	my ($when) = @_;
	$primary->wait_for_catchup($standby);
	for my $tbl (qw(walt0 walt4))
	{
		my %o = (table => $tbl, items => \@witems, k => 10, settings => index_settings(100));
		like(knn_explain($standby, %o, item => $witems[4]), qr/Index Scan using ${tbl}_idx on $tbl\s*\n\s*Index Cond:/,
			"(e) $when: $tbl: the standby's query is an hnsw scan with an Index Cond");
		my $p = knn_batch($primary, %o);
		my $s = knn_batch($standby, %o);
		is($p->{ret} + $s->{ret}, 0, "(e) $when: $tbl: the queries ran on both") or diag("$p->{err} $s->{err}");
		is(scalar(grep { @$_ == 10 } @{ $p->{rows} }), scalar @witems, "(e) $when: $tbl: 10 rows per query on the primary");
		is_deeply([ map { [ map { $_->[0] } @$_ ] } @{ $s->{rows} } ], [ map { [ map { $_->[0] } @$_ ] } @{ $p->{rows} } ],
			"(e) $when: $tbl: the standby returns the primary's top 10 for every query");
	}
	is_deeply([ server_log_problems($standby) ], [], "(e) $when: the standby log has no redo failure");
	return;
}

# the builds after the standby started: their pages reach it by WAL only
$primary->safe_psql('postgres', "CREATE INDEX walt0_idx ON walt0 USING hnsw ($typed_keys)");
$primary->safe_psql('postgres', "CREATE INDEX walt4_idx ON walt4 USING hnsw ($typed_keys) WITH (bits = 4)");
same_answers('after CREATE INDEX');
# 800 rows in four transactions, with new values among them
for my $tx (0 .. 3)
{
	my $first = 2000 + 200 * $tx;
	for my $tbl (qw(walt0 walt4))
	{
		copy_rows($primary, $tbl, $typed_cols, [ map { typed_row($_, $_, new_values($_)) } $first .. $first + 199 ]);
	}
}
same_answers('after inserts');
for my $tbl (qw(walt0 walt4))
{
	$primary->safe_psql('postgres', "DELETE FROM $tbl WHERE id % 3 = 0; VACUUM $tbl");
	copy_rows($primary, $tbl, $typed_cols, [ map { typed_row($_, $_, new_values($_)) } 2800 .. 3199 ]);
}
same_answers('after DELETE, VACUUM and more inserts');
for my $nd ([ 'primary', $primary ], [ 'standby', $standby ])
{
	check_clean($nd->[1], $_, "(e) $nd->[0]") for qw(walt0_idx walt4_idx);
}
is_deeply([ server_log_problems($primary) ], [], '(e) no crash in the primary log');
is_deeply([ server_log_problems($standby) ], [], '(e) no redo failure in the standby log');
$standby->stop;
$primary->stop;
$measured{'(e) s'} = time - $t_e;
$measured{'total s'} = time - $t_start;

diag(join("\n", map { sprintf('%s: %.4f', $_, $measured{$_}) } sort keys %measured));
done_testing();
