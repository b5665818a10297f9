# hnsw with many identical vectors and with selective filters.
#
# Duplicates: 500 copies of one vector among 5,000 random others (16
# dimensions, seeded), indexed both by CREATE INDEX and by inserts into an
# indexed table.  Querying that vector with LIMIT 500 returns exactly the
# 500 copies under hnsw.iterative_scan = relaxed_order and strict_order
# (at the default ef_search), and with iterative scan off when
# hnsw.ef_search is at least the number of copies.
#
# Filters: 10,000 clustered 32-dimensional rows in 100 categories of 100
# (category = id % 100, unrelated to the vectors).  WHERE category = c
# ORDER BY embedding <-> q LIMIT 10, through the hnsw index, returns 10
# rows, all in category c, under relaxed_order and strict_order; under
# strict_order the distances never decrease; the rows are (nearly) the
# exact filtered nearest neighbours; when only 5 rows match at all, both
# orders return all 5.  With iterative scan off the query may return fewer
# rows, but runs without error and returns only matching rows.
#
# 0.1 % filters on sift-128 (when the data set is there): the first 50,000
# rows, m 16, ef_construction 64, ef_search 40, category = id % 1000, so
# each category holds 50 rows spread over the whole data.  Finding 10 of
# them takes thousands of scored nodes, within the default
# hnsw.max_scan_tuples (20,000): under relaxed_order and strict_order the
# query returns 10 rows (mean over 50 queries) with recall at least 0.9
# against the exact filtered top 10.  A scan that stops handing out rows
# at the limit, dropping the nodes it scored but had not returned yet,
# gets about 5.7 rows and recall 0.57 here.  The limits still bound the
# scan: an unfiltered iterative scan with a huge LIMIT returns at least
# hnsw.max_scan_tuples rows (all scored nodes come out) and not many more,
# returns fewer rows under a small work_mem than with a larger
# hnsw.scan_mem_multiplier, and every row when neither limit bites.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Test::More;
use VectorTest;

my $seed = 1011;

my $node = PostgreSQL::Test::Cluster->new('hnsw_filter');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_buffers = 128MB\nmaintenance_work_mem = 128MB\nmax_parallel_workers_per_gather = 0");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION vector');

# ---- duplicates ----
my $ncopies = 500;
my $dup = as_float4(random_vectors(1, 16, $seed + 1))->[0];
my $others = as_float4(random_vectors(5000, 16, $seed));
my (@rows, %copy_ids);
for my $i (0 .. 5000 + $ncopies - 1)
{
	if ($i % 11 == 0 && keys(%copy_ids) < $ncopies)
	{
		$copy_ids{$i} = 1;
		push @rows, $dup;
	}
	else
	{
		push @rows, $others->[ $i - keys(%copy_ids) ];
	}
}
is(scalar(keys %copy_ids), $ncopies, "$ncopies copies placed among the rows");
my @copies = sort { $a <=> $b } keys %copy_ids;

load_vectors($node, 'dup_built', \@rows);
$node->safe_psql('postgres',
	'CREATE INDEX dup_built_idx ON dup_built USING hnsw (embedding vector_l2_ops)');
$node->safe_psql('postgres',
	    'CREATE TABLE dup_ins (id int PRIMARY KEY, embedding vector(16));'
	  . 'CREATE INDEX dup_ins_idx ON dup_ins USING hnsw (embedding vector_l2_ops)');
copy_vectors($node, 'dup_ins', \@rows);
$node->safe_psql('postgres', 'ANALYZE dup_ins');

for my $table (qw(dup_built dup_ins))
{
	for my $case (
		[ 'iterative scan relaxed_order', "SET hnsw.iterative_scan = relaxed_order" ],
		[ 'iterative scan strict_order', "SET hnsw.iterative_scan = strict_order" ],
		[ "iterative scan off, ef_search = $ncopies",
			"SET hnsw.iterative_scan = off; SET hnsw.ef_search = $ncopies" ])
	{
		my ($what, $set) = @$case;
		$set = "SET enable_seqscan = off; $set";
		like(knn_plan($node, $table, '<->', $dup, $ncopies, settings => $set),
			qr/Index Scan using ${table}_idx /, "$table, $what: index scan");
		my $got = knn_rows($node, $table, '<->', [$dup], $ncopies, settings => $set)->[0];
		my @ids = sort { $a <=> $b } map { $_->[0] } @$got;
		is_deeply(\@ids, \@copies, "$table, $what: LIMIT $ncopies returns every copy")
		  or diag(sprintf('got %d rows, %d of them copies', scalar @ids,
				scalar(grep { $copy_ids{$_} } @ids)));
		is(scalar(grep { $_->[1] != 0 } @$got), 0, "$table, $what: all at distance 0");
	}
}

# ---- filters ----
my $n = 10000;
my $vecs = as_float4(clustered_vectors($n, 32, 100, $seed + 2));
load_vectors($node, 'items', $vecs,
	extra_cols => 'category int',
	extra => sub { $_[0] % 100 });
$node->safe_psql('postgres',
	'CREATE INDEX items_idx ON items USING hnsw (embedding vector_l2_ops)');
my $queries = near_queries($vecs, 20, $seed + 3);

# exact filtered top 10 of query $q in category $c
sub filtered_truth
{
	my ($q, $c) = @_;
	my @ids = grep { $_ % 100 == $c } 0 .. $n - 1;
	my $top = exact_topk([ map { $vecs->[$_] } @ids ], $q, 10, 'l2');
	return [ map { $ids[$_] } @$top ];
}

for my $mode (qw(relaxed_order strict_order))
{
	my $set = "SET enable_seqscan = off; SET hnsw.ef_search = 100; SET hnsw.iterative_scan = $mode";
	my ($full, $match, $ordered) = (0, 0, 0);
	my (@got, @truth);
	for my $qi (0 .. $#$queries)
	{
		# category 7 for half the queries, others for the rest
		my $c = $qi % 2 ? 7 : ($qi * 13) % 100;
		my %opt = (settings => $set, where => "category = $c");
		if ($qi == 0)
		{
			like(knn_plan($node, 'items', '<->', $queries->[$qi], 10, %opt),
				qr/Index Scan using items_idx .*Filter: \(category = $c\)/s,
				"$mode: the filtered query is an index scan with a filter");
		}
		my $rows = knn_rows($node, 'items', '<->', [ $queries->[$qi] ], 10, %opt)->[0];
		$full++ if @$rows == 10;
		$match++ unless grep { $_->[0] % 100 != $c } @$rows;
		my $ok = 1;
		for my $i (1 .. $#$rows)
		{
			$ok = 0 if $rows->[$i][1] < $rows->[ $i - 1 ][1];
		}
		$ordered++ if $ok;
		push @got, [ map { $_->[0] } @$rows ];
		push @truth, filtered_truth($queries->[$qi], $c);
	}
	my $nq = scalar @$queries;
	is($full, $nq, "$mode: every 1%-selective query returns LIMIT 10 rows");
	is($match, $nq, "$mode: every row returned matches the filter");
	is($ordered, $nq, "$mode: distances are non-decreasing") if $mode eq 'strict_order';
	my $r = recall_at(\@got, \@truth);
	cmp_ok($r, '>=', 0.9, sprintf('%s: the rows are the filtered nearest neighbours (recall %.3f)', $mode, $r));

	# only five rows match: both orders find all of them (the table is
	# smaller than hnsw.max_scan_tuples)
	my $rows = knn_rows($node, 'items', '<->', [ $queries->[0] ], 10,
		settings => $set,
		where => 'category = 7 AND id + 0 < 500')->[0];
	is_deeply([ sort { $a <=> $b } map { $_->[0] } @$rows ], [ 7, 107, 207, 307, 407 ],
		"$mode: a filter matching 5 rows returns all 5");
}

# ---- 0.1 % filters on sift-128 ----
SKIP:
{
	my $dir = data_dir();
	skip 'sift-128 data set not found (set VECTOR_DATA_DIR)', 13 unless $dir;
	my $ns = 50000;
	my $base = read_vecs("$dir/sift-128/base.fvecs", $ns);
	my $squeries = read_vecs("$dir/sift-128/query.fvecs", 50);
	load_vectors($node, 'sift', $base,
		extra_cols => 'category int',
		extra => sub { $_[0] % 1000 });
	$node->safe_psql('postgres',
		'CREATE INDEX sift_idx ON sift USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64)');

	my (@cats, @struth);
	for my $qi (0 .. $#$squeries)
	{
		my $c = ($qi * 37) % 1000;
		my @ids = grep { $_ % 1000 == $c } 0 .. $ns - 1;
		my $top = exact_topk([ map { $base->[$_] } @ids ], $squeries->[$qi], 10, 'l2');
		push @cats, $c;
		push @struth, [ map { $ids[$_] } @$top ];
	}
	for my $mode (qw(relaxed_order strict_order))
	{
		my $set = "SET enable_seqscan = off; SET hnsw.ef_search = 40; SET hnsw.iterative_scan = $mode";
		my $sql = "$set;\n";
		for my $qi (0 .. $#$squeries)
		{
			my $one = knn_sql('sift', '<->', $squeries->[$qi], 10, where => "category = $cats[$qi]");
			$one =~ s/^SELECT /SELECT $qi, /;
			$sql .= "$one;\n";
		}
		my @got = map { [] } @$squeries;
		my ($nrows, $wrong, $unordered, %last) = (0, 0, 0);
		for my $line (split /\n/, $node->safe_psql('postgres', $sql))
		{
			my ($qi, $id, $d) = split /\|/, $line;
			$wrong++ if $id % 1000 != $cats[$qi];
			$unordered++ if defined $last{$qi} && $d < $last{$qi};
			$last{$qi} = $d;
			push @{ $got[$qi] }, $id;
			$nrows++;
		}
		my $nq = scalar @$squeries;
		my $mean = $nrows / $nq;
		cmp_ok($mean, '>=', 9.9, sprintf('sift 0.1 %%, %s: the queries return LIMIT 10 rows (mean %.2f)', $mode, $mean));
		is($wrong, 0, "sift 0.1 %, $mode: every row returned matches the filter");
		is($unordered, 0, "sift 0.1 %, $mode: distances are non-decreasing") if $mode eq 'strict_order';
		my $r = recall_at(\@got, \@struth);
		cmp_ok($r, '>=', 0.9, sprintf('sift 0.1 %%, %s: recall against the exact filtered top 10 (%.3f)', $mode, $r));
	}

	# the scan limits: rows an unfiltered relaxed_order scan returns
	my $q = vec_literal($squeries->[0]);
	my $count = sub {
		my ($settings) = @_;
		return $node->safe_psql('postgres',
			"SET enable_seqscan = off; SET hnsw.iterative_scan = relaxed_order; $settings; "
			  . "SELECT count(*) FROM (SELECT id FROM sift ORDER BY embedding <-> '$q' LIMIT 1000000) s");
	};
	my $n1k = $count->('SET hnsw.max_scan_tuples = 1000');
	cmp_ok($n1k, '>=', 1000, "max_scan_tuples = 1000: every scored node is returned ($n1k rows)");
	# one search scores at most about ef_search * 2m nodes past the limit
	cmp_ok($n1k, '<=', 1000 + 2 * 40 * 32, 'max_scan_tuples = 1000 bounds the scan');
	my $n5k = $count->('SET hnsw.max_scan_tuples = 5000');
	ok($n5k >= 5000 && $n5k <= 5000 + 2 * 40 * 32, "max_scan_tuples = 5000 bounds the scan ($n5k rows)");
	my $set = "SET hnsw.max_scan_tuples = 1000000; SET work_mem = '64kB'";
	my $m1 = $count->("$set; SET hnsw.scan_mem_multiplier = 1");
	my $m4 = $count->("$set; SET hnsw.scan_mem_multiplier = 4");
	my $all = $count->("$set; SET hnsw.scan_mem_multiplier = 1000");
	cmp_ok($m1, '<', $m4, "work_mem 64kB: scan_mem_multiplier 4 scans further than 1 ($m1, $m4 rows)");
	cmp_ok($m4, '<', $ns / 2, 'work_mem 64kB, scan_mem_multiplier 4 bounds the scan');
	is($all, $ns, 'with neither limit reached the scan returns every row');
}

# iterative scan off: fewer rows are allowed, errors and wrong rows are not
my $set = 'SET enable_seqscan = off; SET hnsw.iterative_scan = off';
my ($ret, $out, $err) = (0, '', '');
my $sql = "$set;\n" . join '', map { knn_sql('items', '<->', $_, 10, where => 'category = 7') . ";\n" } @$queries;
$ret = $node->psql('postgres', $sql, stdout => \$out, stderr => \$err);
is($ret, 0, 'iterative scan off: filtered queries run without error') or diag($err);
my @ids = map { (split /\|/)[0] } grep { length } split /\n/, $out;
cmp_ok(scalar @ids, '<=', 10 * @$queries, 'iterative scan off: at most LIMIT rows per query');
is(scalar(grep { $_ % 100 != 7 } @ids), 0, 'iterative scan off: only matching rows');
note(scalar(@ids) . ' rows for ' . scalar(@$queries) . ' queries with iterative scan off');

is_deeply([ server_log_problems($node) ], [], 'no crash in the server log');
diag("data seed $seed") unless Test::More->builder->is_passing;
$node->stop;
done_testing();
