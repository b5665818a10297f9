# halfvec indexes: recall and replication.
#
# 1. On 10,000 clustered 64-dimensional halfvec rows (100 clusters,
#    seeded), ORDER BY ... LIMIT 10 through an hnsw index at
#    hnsw.ef_search = 100 finds at least 99% of the exact ten nearest
#    neighbours for each opclass (halfvec_l2_ops, _ip_ops, _cosine_ops,
#    _l1_ops); an ivfflat index probing all its lists finds the exact
#    answers (l2, ip, cosine).  The exact answers are computed here, in perl,
#    over the values the server stores (each element rounded to a half).
# 2. A streaming standby of a primary running with
#    wal_consistency_checking = 'all' returns the primary's top 10 through a
#    halfvec hnsw index after CREATE INDEX, inserts, and DELETE + VACUUM.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Test::More;
use VectorTest;

my $seed = 1030;
my ($n, $d, $nq, $k) = (10000, 64, 30, 10);
my $vecs = as_float16(clustered_vectors($n, $d, 100, $seed));
my $queries = as_float16(near_queries($vecs, $nq, $seed + 1));
my @ids = (0 .. $n - 1);
my %ops = (l2 => '<->', ip => '<#>', cosine => '<=>', l1 => '<+>');

my $node = PostgreSQL::Test::Cluster->new('halfvec_recall');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_buffers = 128MB\nmaintenance_work_mem = 256MB\nmax_parallel_workers_per_gather = 0");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION vector');
load_vectors($node, 'items', $vecs, type => 'halfvec');

sub truth
{
	my ($metric) = @_;
	return [ map { [ map { $ids[$_] } @{ exact_topk($vecs, $_, $k, $metric) } ] } @$queries ];
}
my %truth = map { $_ => truth($_) } keys %ops;

# 1a. hnsw, one index at a time so that each query can only use its own
for my $m (qw(l2 ip cosine l1))
{
	$node->safe_psql('postgres',
		"CREATE INDEX items_hnsw_$m ON items USING hnsw (embedding halfvec_${m}_ops)");
	my $r = index_recall($node,
		table => 'items',
		op => $ops{$m},
		index => "items_hnsw_$m",
		queries => $queries,
		truth => $truth{$m},
		k => $k,
		settings => 'SET enable_seqscan = off; SET hnsw.ef_search = 100',
		name => "hnsw halfvec_${m}_ops");
	cmp_ok($r, '>=', 0.99, sprintf('hnsw halfvec_%s_ops recall@10 is at least 0.99 (%.4f)', $m, $r));
	# (not for ip: under inner product some nodes are unreachable by
	# construction, and vector_ip_ops reports the same on this data)
	is($node->safe_psql('postgres', "SELECT count(*) FROM vector_index_check('items_hnsw_$m')"),
		0, "hnsw halfvec_${m}_ops index passes vector_index_check")
	  unless $m eq 'ip';
	$node->safe_psql('postgres', "DROP INDEX items_hnsw_$m");
}

# 1b. ivfflat with every list probed is exact
for my $m (qw(l2 ip cosine))
{
	$node->safe_psql('postgres',
		"CREATE INDEX items_ivf_$m ON items USING ivfflat (embedding halfvec_${m}_ops) WITH (lists = 50)");
	my $r = index_recall($node,
		table => 'items',
		op => $ops{$m},
		index => "items_ivf_$m",
		queries => $queries,
		truth => $truth{$m},
		k => $k,
		settings => 'SET enable_seqscan = off; SET ivfflat.probes = 50',
		name => "ivfflat halfvec_${m}_ops");
	is($r, 1, "ivfflat halfvec_${m}_ops recall\@10 with probes = lists is exact");
	$node->safe_psql('postgres', "DROP INDEX items_ivf_$m");
}
$node->stop;

# 2. replication of a halfvec hnsw index
my $primary = PostgreSQL::Test::Cluster->new('halfvec_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf',
	"wal_consistency_checking = 'all'\nmax_parallel_workers_per_gather = 0\nwal_keep_size = '1GB'");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION vector');
my $small = [ map { [ @$_[ 0 .. 15 ] ] } @$vecs[ 0 .. 2999 ] ];
my $smallq = [ map { [ @$_[ 0 .. 15 ] ] } @$queries ];
$primary->safe_psql('postgres', 'CREATE TABLE rep (id int PRIMARY KEY, embedding halfvec(16))');
copy_vectors($primary, 'rep', [ @$small[ 0 .. 1499 ] ], 0);
$primary->backup('b1');
my $standby = PostgreSQL::Test::Cluster->new('halfvec_standby');
$standby->init_from_backup($primary, 'b1', has_streaming => 1);
$standby->start;

my $settings = 'SET enable_seqscan = off; SET hnsw.ef_search = 100';
sub same_answers
{
	my ($when) = @_;
	standby_same_answers($primary, $standby, 'rep', [ [ 'l2', '<->' ] ], $smallq, $settings, $when);
	return;
}

$primary->safe_psql('postgres', 'CREATE INDEX rep_l2 ON rep USING hnsw (embedding halfvec_l2_ops)');
same_answers('after CREATE INDEX');
copy_vectors($primary, 'rep', [ @$small[ 1500 .. 2999 ] ], 1500);
same_answers('after inserts');
$primary->safe_psql('postgres', 'DELETE FROM rep WHERE id % 3 = 0; VACUUM rep');
same_answers('after DELETE + VACUUM');

is_deeply([ server_log_problems($primary) ], [], 'no crash in the primary log');
diag("data seed $seed") unless Test::More->builder->is_passing;
$standby->stop;
$primary->stop;
done_testing();
