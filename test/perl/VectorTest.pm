# VectorTest.pm: helpers shared by the TAP tests: data sets, loading,
# exact answers and recall.
package VectorTest;

use strict;
use warnings;
use Exporter 'import';
use File::Temp ();
use Test::More ();

our @EXPORT = qw(data_dir read_vecs vec_literal load_vectors random_vectors
  clustered_vectors exact_topk recall_at as_float4 as_float16 near_queries knn_sql
  knn_rows knn_ids topk_ids knn_plan index_recall server_log_problems copy_vectors
  psql_bg standby_same_answers pgbench_files no_checksums sparse_dim sparse_rows
  sparse_literal near_sparse copy_sparse load_sparse_queries queries_topk queries_plan
  deep_check dist_hits seeded_rng);

# vector_index_check($index, $ef) on an hnsw index, taken apart: missed is
# how many live rows a search for their own vectors at ef does not find
# (0 when the check reports none), live how many it tried (undef then),
# rows the heap tuples "(blk,off)" of the first ten it names, structural
# the other problems (none on a sound index), lines everything it said.
sub deep_check
{
	my ($node, $index, $ef) = @_;
	my @lines = split /\n/,
	  $node->safe_psql('postgres', "SELECT p FROM vector_index_check('$index', $ef) p");
	my ($missed, $live) = (0, undef);
	for (@lines)
	{
		($missed, $live) = ($1, $2) if /^(\d+) of (\d+) live nodes are not found by a search/;
	}
	return {
		missed => $missed,
		live => $live,
		rows => [ map { /heap tuple \((\d+,\d+)\)\) is not found by a search/ ? $1 : () } @lines ],
		structural => [ grep { !/not found by a search/ } @lines ],
		lines => \@lines,
	};
}

# Where the shipped data sets are: $VECTOR_DATA_DIR, else ../shared/data
# beside the checkout.  Returns undef when absent.
sub data_dir
{
	for my $d ($ENV{VECTOR_DATA_DIR}, "$ENV{TESTDIR}/../shared/data")
	{
		return $d if defined $d && -d "$d/sift-128";
	}
	return undef;
}

# Read an .fvecs (float) or .ivecs (int) file: a list of array refs.
# $limit, when given, stops after that many rows.
sub read_vecs
{
	my ($path, $limit) = @_;
	my $int = $path =~ /\.ivecs$/;
	open my $fh, '<:raw', $path or die "cannot open $path: $!";
	local $/;
	my $buf = <$fh>;
	close $fh;
	my $d = unpack('l<', $buf);
	my $row = 4 * ($d + 1);
	my $n = length($buf) / $row;
	$n = $limit if defined $limit && $limit < $n;
	my $fmt = $int ? "x4 l<$d" : "x4 f<$d";
	return [ map { [ unpack($fmt, substr($buf, $_ * $row, $row)) ] } 0 .. $n - 1 ];
}

# '[1,2,3]' for an array ref, with enough digits to round-trip a float4.
sub vec_literal
{
	my ($v) = @_;
	return '[' . join(',', map { sprintf('%.9g', $_) } @$v) . ']';
}

# Create $table (id int primary key, embedding vector(d)[, extra cols]) and
# COPY the vectors in (ids 0..n-1).  $extra is an optional code ref giving
# extra column values for row i, with $extra_cols their DDL; type =>
# 'halfvec' makes the column halfvec(d).
sub load_vectors
{
	my ($node, $table, $vecs, %opt) = @_;
	my $d = scalar @{ $vecs->[0] };
	my $cols = $opt{extra_cols} ? ", $opt{extra_cols}" : '';
	my $type = $opt{type} // 'vector';
	my $tmp = File::Temp->new(SUFFIX => '.copy', DIR => $ENV{TESTDIR} // '/tmp');
	for my $i (0 .. $#$vecs)
	{
		my @extra = $opt{extra} ? $opt{extra}->($i) : ();
		print $tmp join("\t", $i, vec_literal($vecs->[$i]), @extra), "\n";
	}
	close $tmp;
	chmod 0644, $tmp->filename;
	$node->safe_psql('postgres',
		    "CREATE TABLE $table (id int PRIMARY KEY, embedding $type($d)$cols);"
		  . "COPY $table FROM '" . $tmp->filename . "';"
		  . "ANALYZE $table;");
	return;
}

# COPY vectors into an existing table (id, embedding): row i gets id
# $first_id + i (default 0).
sub copy_vectors
{
	my ($node, $table, $vecs, $first_id) = @_;
	$first_id //= 0;
	my $tmp = File::Temp->new(SUFFIX => '.copy', DIR => $ENV{TESTDIR} // '/tmp');
	print $tmp join("\t", $first_id + $_, vec_literal($vecs->[$_])), "\n" for 0 .. $#$vecs;
	close $tmp;
	chmod 0644, $tmp->filename;
	$node->safe_psql('postgres',
		"COPY $table (id, embedding) FROM '" . $tmp->filename . "'");
	return;
}

# A small seeded generator (xorshift32): a function returning numbers in
# [0, 1), so that data never depends on perl's rand() implementation.
sub seeded_rng
{
	my ($seed) = @_;
	my $s = $seed || 1;
	return sub {
		$s ^= ($s << 13) & 0xFFFFFFFF;
		$s ^= $s >> 17;
		$s ^= ($s << 5) & 0xFFFFFFFF;
		return ($s & 0xFFFFFFFF) / 4294967296.0;
	};
}

sub random_vectors
{
	my ($n, $d, $seed) = @_;
	my $r = seeded_rng($seed);
	return [ map { [ map { $r->() * 2 - 1 } 1 .. $d ] } 1 .. $n ];
}

# $n vectors around $k random centres (spread 0.1): the shape real
# embeddings have, and what makes approximate search hard.
sub clustered_vectors
{
	my ($n, $d, $k, $seed) = @_;
	my $r = seeded_rng($seed);
	my @c = map { [ map { $r->() * 2 - 1 } 1 .. $d ] } 1 .. $k;
	return [
		map {
			my $c = $c[ int($r->() * $k) ];
			[ map { $c->[$_] + ($r->() - 0.5) * 0.2 } 0 .. $d - 1 ]
		} 1 .. $n
	];
}

# The sparse data set of the sparsevec tests: rows of sparse_dim()
# dimensions, [ [index (1-based), value], ... ] sorted by index, 20 to 100
# non-zeros each.  There are 40 topics of 150 dimensions with a weight
# each, drawn from $topic_seed (the same topics for every call with it); a
# row takes 80% of its non-zeros from one topic (weight times noise) and
# the rest anywhere, and is scaled to unit length, so that rows cluster as
# sparse embeddings do.
sub sparse_dim { return 10000; }

sub sparse_rows
{
	my ($n, $seed, $topic_seed) = @_;
	my $dim = sparse_dim();
	my $ntopics = 40;
	my $r = seeded_rng($seed);
	my $tr = seeded_rng($topic_seed);
	my @topics = map {
		[ map { [ 1 + int($tr->() * $dim), 0.5 + $tr->() ] } 1 .. 150 ]
	} 1 .. $ntopics;
	my @rows;
	for (1 .. $n)
	{
		my $t = $topics[ int($r->() * $ntopics) ];
		my $nnz = 20 + int($r->() * 81);
		my %e;
		while (keys %e < $nnz)
		{
			if ($r->() < 0.8)
			{
				my $p = $t->[ int($r->() * @$t) ];
				$e{ $p->[0] } = $p->[1] * (0.5 + $r->());
			}
			else
			{
				$e{ 1 + int($r->() * $dim) } = 0.1 + $r->() * 0.5;
			}
		}
		my $norm = 0;
		$norm += $_ * $_ for values %e;
		$norm = sqrt($norm);
		push @rows, [ map { [ $_, sprintf('%.5f', $e{$_} / $norm) ] } sort { $a <=> $b } keys %e ];
	}
	return \@rows;
}

# The sparsevec literal of a row of sparse_rows.
sub sparse_literal
{
	my ($row) = @_;
	return '{' . join(',', map { "$_->[0]:$_->[1]" } @$row) . '}/' . sparse_dim();
}

# $n queries near seeded random rows of $rows: each element moved by up to
# 10%, and one more non-zero.
sub near_sparse
{
	my ($rows, $n, $seed) = @_;
	my $r = seeded_rng($seed);
	my @q;
	for (1 .. $n)
	{
		my %e = map { $_->[0] => $_->[1] } @{ $rows->[ int($r->() * @$rows) ] };
		$e{$_} = sprintf('%.5f', $e{$_} * (0.9 + 0.2 * $r->())) for keys %e;
		$e{ 1 + int($r->() * sparse_dim()) } //= '0.05000';
		push @q, [ map { [ $_, $e{$_} ] } sort { $a <=> $b } keys %e ];
	}
	return \@q;
}

# COPY sparse rows into an existing table (id, embedding): row i gets id
# $first_id + i.
sub copy_sparse
{
	my ($node, $table, $rows, $first_id) = @_;
	my $tmp = File::Temp->new(SUFFIX => '.copy', DIR => $ENV{TESTDIR} // '/tmp');
	print $tmp join("\t", $first_id + $_, sparse_literal($rows->[$_])), "\n" for 0 .. $#$rows;
	close $tmp;
	chmod 0644, $tmp->filename;
	$node->safe_psql('postgres', "COPY $table (id, embedding) FROM '" . $tmp->filename . "'");
	return;
}

# Create table queries (qid, q sparsevec) holding $queries, qid 0, 1, ...
sub load_sparse_queries
{
	my ($node, $queries) = @_;
	$node->safe_psql('postgres',
		'CREATE TABLE queries (qid int, q sparsevec(' . sparse_dim() . "));\n"
		  . join('', map { "INSERT INTO queries VALUES ($_, '" . sparse_literal($queries->[$_]) . "');\n" }
			  0 .. $#$queries));
	return;
}

# The ids of the $k rows of $table nearest to each query of table queries
# under operator $op (column embedding), after the SQL in $settings: one
# list per query, in qid order.
sub queries_topk
{
	my ($node, $table, $op, $k, $settings) = @_;
	my $out = $node->safe_psql('postgres',
		"$settings;\n"
		  . "SELECT q.qid, string_agg(x.id::text, ',' ORDER BY x.n) FROM queries q, LATERAL "
		  . "(SELECT id, row_number() OVER () AS n FROM (SELECT id FROM $table "
		  . "ORDER BY embedding $op q.q LIMIT $k) s) x GROUP BY q.qid ORDER BY q.qid");
	return [ map { [ split /,/, (split /\|/)[1] // '' ] } split /\n/, $out ];
}

# EXPLAIN (COSTS OFF) of queries_topk's query for the first query.
sub queries_plan
{
	my ($node, $table, $op, $settings) = @_;
	return $node->safe_psql('postgres',
		"$settings;\nEXPLAIN (COSTS OFF) SELECT id FROM $table "
		  . "ORDER BY embedding $op (SELECT q FROM queries LIMIT 1) LIMIT 10");
}

# Exact top-k ids of $q among $vecs under metric l2|ip|cosine|l1, in
# double precision, ties by lower id.
sub exact_topk
{
	my ($vecs, $q, $k, $metric) = @_;
	my @dist;
	my $qq = 0;
	$qq += $_ * $_ for @$q;
	for my $i (0 .. $#$vecs)
	{
		my $v = $vecs->[$i];
		my ($s, $dot, $vv) = (0, 0, 0);
		if ($metric eq 'l2')
		{
			$s += ($v->[$_] - $q->[$_])**2 for 0 .. $#$q;
		}
		elsif ($metric eq 'l1')
		{
			$s += abs($v->[$_] - $q->[$_]) for 0 .. $#$q;
		}
		else
		{
			for (0 .. $#$q) { $dot += $v->[$_] * $q->[$_]; $vv += $v->[$_]**2; }
			$s = $metric eq 'ip' ? -$dot : 1 - $dot / sqrt($vv * $qq || 1);
		}
		push @dist, [ $i, $s ];
	}
	my @top = sort { $a->[1] <=> $b->[1] || $a->[0] <=> $b->[0] } @dist;
	return [ map { $_->[0] } @top[ 0 .. $k - 1 ] ];
}

# Fraction of $truth (list of id lists) found in $got (same shape).
sub recall_at
{
	my ($got, $truth) = @_;
	my ($hit, $all) = (0, 0);
	for my $i (0 .. $#$truth)
	{
		my %g = map { $_ => 1 } @{ $got->[$i] };
		$hit += grep { $g{$_} } @{ $truth->[$i] };
		$all += scalar @{ $truth->[$i] };
	}
	return $all ? $hit / $all : 1;
}

# How many of the brute force's rows' distances (a multiset) the returned
# rows' distances match: $got and $truth are lists of [id, distance], so
# rows tied at one distance count as found whichever of them came back.
sub dist_hits
{
	my ($got, $truth) = @_;
	my @g = sort { $a <=> $b } map { $_->[1] } @$got;
	my @t = sort { $a <=> $b } map { $_->[1] } @$truth;
	my ($i, $j, $hits) = (0, 0, 0);
	while ($i < @g && $j < @t)
	{
		if ($g[$i] == $t[$j]) { $hits++; $i++; $j++; }
		elsif ($g[$i] < $t[$j]) { $i++; }
		else { $j++; }
	}
	return $hits;
}

# The same vectors with every element rounded to float4, as the server
# stores them, so that exact answers computed here rank the values the
# server ranks.
sub as_float4
{
	my ($vecs) = @_;
	return [ map { [ unpack('f<*', pack('f<*', @$_)) ] } @$vecs ];
}

# The same vectors with every element rounded to the nearest IEEE binary16
# value (ties to even), as halfvec stores them.  Elements must be below
# 65520 in magnitude.
sub as_float16
{
	my ($vecs) = @_;
	return [ map { [ map { _to_half($_) } @$_ ] } @$vecs ];
}

sub _to_half
{
	my ($x) = @_;
	return 0 if $x == 0;
	my $m = abs($x);
	# binary exponent of $m, at least -14 (the subnormals share one step)
	my $e = int(log($m) / log(2)) - 1;
	$e++ while 2**($e + 1) <= $m;
	$e = -14 if $e < -14;
	my $ulp = 2**($e - 10);
	my $q = $m / $ulp;			# exact: a power-of-two scaling
	my $r = int($q);
	my $f = $q - $r;
	$r++ if $f > 0.5 || ($f == 0.5 && $r % 2 == 1);
	return ($x < 0 ? -1 : 1) * $r * $ulp;
}

# $n queries near the data: copies of seeded random rows of $vecs moved by
# up to +-$noise (default 0.01) in each element, rounded to float4.
sub near_queries
{
	my ($vecs, $n, $seed, $noise) = @_;
	$noise //= 0.01;
	my $r = seeded_rng($seed);
	my @q;
	for (1 .. $n)
	{
		my $v = $vecs->[ int($r->() * @$vecs) ];
		push @q, [ map { $_ + ($r->() - 0.5) * 2 * $noise } @$v ];
	}
	return as_float4(\@q);
}

# The k-nearest-neighbour query these helpers run: id and distance of the
# $k rows of $table nearest to $q under operator $op.  Options: where =>
# extra condition, column => indexed column (default embedding).
sub knn_sql
{
	my ($table, $op, $q, $k, %opt) = @_;
	my $col = $opt{column} // 'embedding';
	my $lit = "'" . vec_literal($q) . "'";
	my $where = defined $opt{where} ? " WHERE $opt{where}" : '';
	my $limit = defined $k ? " LIMIT $k" : '';
	return "SELECT id, $col $op $lit FROM $table$where ORDER BY $col $op $lit$limit";
}

# Run knn_sql for every query in @$queries in one psql session, after the
# SQL in $opt{settings} (e.g. 'SET hnsw.ef_search = 100').  Returns, per
# query, the list of [id, distance] rows in the order the server returned
# them.  Other options as knn_sql.
sub knn_rows
{
	my ($node, $table, $op, $queries, $k, %opt) = @_;
	my $sql = defined $opt{settings} ? "$opt{settings};\n" : '';
	for my $i (0 .. $#$queries)
	{
		my $q = knn_sql($table, $op, $queries->[$i], $k, %opt);
		$q =~ s/^SELECT /SELECT $i, /;
		$sql .= "$q;\n";
	}
	my $out = $node->safe_psql('postgres', $sql);
	my @res = map { [] } @$queries;
	for my $line (split /\n/, $out)
	{
		my ($i, $id, $d) = split /\|/, $line;
		push @{ $res[$i] }, [ $id, $d ];
	}
	return \@res;
}

# As knn_rows, the ids only.
sub knn_ids
{
	my $rows = knn_rows(@_);
	return [ map { [ map { $_->[0] } @$_ ] } @$rows ];
}

# The ids of the $k rows nearest to one query $q.
sub topk_ids
{
	my ($node, $table, $op, $q, $k, %opt) = @_;
	return knn_ids($node, $table, $op, [$q], $k, %opt)->[0];
}

# EXPLAIN (COSTS OFF) of knn_sql after the same settings.
sub knn_plan
{
	my ($node, $table, $op, $q, $k, %opt) = @_;
	my $sql = defined $opt{settings} ? "$opt{settings};\n" : '';
	return $node->safe_psql('postgres',
		$sql . 'EXPLAIN (COSTS OFF) ' . knn_sql($table, $op, $q, $k, %opt));
}

# Recall of an index: asserts (one Test::More test) that the plan of the
# first query is an Index Scan using index $opt{index}, runs every query
# and returns recall@k against $opt{truth} (id lists, e.g. from
# exact_topk mapped to ids).  Options: table, op, index, queries, truth, k
# (default 10), settings, where, name (for the test's description).
sub index_recall
{
	my ($node, %opt) = @_;
	my $k = $opt{k} // 10;
	my %q = (settings => $opt{settings}, where => $opt{where});
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $plan = knn_plan($node, $opt{table}, $opt{op}, $opt{queries}[0], $k, %q);
	Test::More::like($plan, qr/Index Scan using \Q$opt{index}\E /,
		($opt{name} // $opt{index}) . ': the query is an index scan')
	  or Test::More::diag($plan);
	my $got = knn_ids($node, $opt{table}, $opt{op}, $opt{queries}, $k, %q);
	return recall_at($got, $opt{truth});
}

# Lines of the node's server log showing a crash, a PANIC, a failed
# assertion or a WAL consistency failure (empty when none).
sub server_log_problems
{
	my ($node) = @_;
	open my $fh, '<', $node->logfile or return ("cannot read log: $!");
	my @bad = grep {
		/terminated by signal|PANIC:|TRAP:|inconsistent page found|server process .* was terminated/
	} <$fh>;
	close $fh;
	return @bad;
}

# Once $standby has replayed everything $primary wrote: for each
# [ index suffix, operator ] in $ops on $table, the standby's query is an
# index scan on "${table}_$suffix", the primary returns 10 rows per query,
# and the standby returns exactly the primary's top 10 for every query;
# then the standby's log shows no redo failure.  $when names the moment.
sub standby_same_answers
{
	my ($primary, $standby, $table, $ops, $queries, $settings, $when) = @_;
	$primary->wait_for_catchup($standby);
	for my $c (@$ops)
	{
		my ($m, $op) = @$c;
		Test::More::like(knn_plan($standby, $table, $op, $queries->[0], 10, settings => $settings),
			qr/Index Scan using ${table}_$m /, "$when: $m query on the standby is an index scan");
		my $p = knn_ids($primary, $table, $op, $queries, 10, settings => $settings);
		my $s = knn_ids($standby, $table, $op, $queries, 10, settings => $settings);
		Test::More::is(scalar(grep { @$_ == 10 } @$p), scalar @$queries,
			"$when: $m: 10 rows per query on the primary");
		Test::More::is_deeply($s, $p, "$when: $m: the standby returns the primary's top 10 for every query");
	}
	Test::More::is_deeply([ server_log_problems($standby) ], [],
		"$when: the standby log has no redo failure");
	return;
}

# Start psql on $node in the background on a script file holding $sql;
# returns the IPC::Run harness and refs to its stdout and stderr.
# Write pgbench scripts ($scripts: name => text) into directory $dir and
# return pgbench's -f arguments for them, each weighted by $weight->($name).
sub pgbench_files
{
	my ($dir, $scripts, $weight) = @_;
	my @files;
	for my $name (sort keys %$scripts)
	{
		my $path = "$dir/$name.sql";
		open my $fh, '>', $path or die "cannot write $path: $!";
		print $fh $scripts->{$name};
		close $fh;
		push @files, '-f', "$path\@" . $weight->($name);
	}
	return @files;
}

sub psql_bg
{
	my ($node, $sql) = @_;
	require IPC::Run;
	require PostgreSQL::Test::Utils;
	my $f = File::Temp->new(SUFFIX => '.sql', DIR => $PostgreSQL::Test::Utils::tmp_check, UNLINK => 0);
	print $f $sql;
	close $f;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			$node->installed_command('psql'), '-X', '-q', '-v', 'ON_ERROR_STOP=1',
			'-d', $node->connstr('postgres'), '-f', $f->filename
		],
		'>', \$out, '2>', \$err);
	return ($h, \$out, \$err);
}

# init() options for a cluster whose test damages pages on purpose: from
# 18, initdb turns data checksums on, and PostgreSQL then refuses a damaged
# page itself ("invalid page in block") before the index code can judge it.
sub no_checksums
{
	my ($node) = @_;
	return $node->pg_version >= 18 ? (extra => ['--no-data-checksums']) : ();
}

1;
