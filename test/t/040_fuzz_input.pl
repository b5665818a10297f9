# Input fuzzing: test/fuzz/fuzz_input.py sends more than 100,000 generated
# inputs to a fresh cluster (vector text input with and without typmods,
# binary input through bind parameters and binary COPY, array casts, bit
# distances, avg's final function on hand-made states, sparsevec text and
# binary input) and checks each
# against its model: accepted with the exact value (and a text output that
# reads back to the same bits), or refused with a clean ERROR of an
# expected SQLSTATE class.  Here: no failure in any phase (one test per
# phase, with examples when there are some), at least 100,000 inputs, no
# backend crashed (server log) and the postmaster that started the run is
# still the one answering.  FUZZ_SEED (printed) repeats or changes the
# inputs; the counts by SQLSTATE are in the test's log.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use IPC::Run;
use VectorTest;

my $python = '/usr/bin/python3';
my $script = abs_path(dirname(__FILE__) . '/../fuzz/fuzz_input.py');

my $node = PostgreSQL::Test::Cluster->new('fuzz_input');
$node->init;
# rejected inputs are not worth a log line each; crashes (LOG) still are
$node->append_conf('postgresql.conf', "log_min_messages = log\nmax_parallel_workers_per_gather = 0\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION vector');

sub postmaster_pid
{
	open my $fh, '<', $node->data_dir . '/postmaster.pid' or return undef;
	my $pid = <$fh>;
	close $fh;
	chomp $pid;
	return $pid;
}
my $pm = postmaster_pid();

ok(system($python, '-c', 'import psycopg') == 0, "$python with psycopg is available");

my ($out, $err) = ('', '');
my $t0 = time;
my $h = IPC::Run::start([ $python, $script, $node->connstr('postgres') ], '>', \$out, '2>', \$err,
	IPC::Run::timeout(600));
my $finished = eval { $h->finish; 1 };
my $rc = $finished ? (($h->results)[0] // -1) : -1;
my $elapsed = time - $t0;

note($out);
my ($seed) = $out =~ /seed (\d+)/;
my ($inputs) = $out =~ /^inputs: (\d+)/m;
my ($failures) = $out =~ /^failures: (\d+)/m;
is($err, '', 'the fuzzer wrote nothing to stderr') or diag($err);
ok(defined $failures, 'the fuzzer ran to its summary');
# one test per phase, so that each kind of failure shows on its own
my %fails;
$fails{$1} += $2 while $out =~ /^FAIL ([^:]+): .*: (\d+)$/mg;
for my $phase ('text', 'typmod', 'binary', 'binary COPY', 'cast', 'bit', 'aggstate', 'sparsevec')
{
	next if is($fails{$phase} // 0, 0, "fuzz phase $phase: no failure");
	my ($in, @lines) = (0);
	for (split /\n/, $out)
	{
		$in = /^FAIL \Q$phase\E:/ ? 1 : /^    e\.g\./ ? $in : 0;
		push @lines, $_ if $in;
	}
	diag(join "\n", @lines);
}
is(scalar(grep { !/^(text|typmod|binary|binary COPY|cast|bit|aggstate|sparsevec)$/ } keys %fails), 0, 'no failure elsewhere');
is($rc, 0, 'the fuzzer exited with status 0');
cmp_ok($inputs // 0, '>=', 100000, 'at least 100,000 inputs (' . ($inputs // 0) . ')');
diag(sprintf('fuzz: %d inputs in %.1f s, seed %s (FUZZ_SEED=%s repeats it)',
		$inputs // 0, $elapsed, $seed // '?', $seed // '?'));
diag($1) if $out =~ /^(accepted: .*)$/m;

is_deeply([ server_log_problems($node) ], [], 'no backend crashed (server log)');
my $pm2 = postmaster_pid();
ok(defined $pm && defined $pm2 && $pm eq $pm2 && kill(0, $pm), 'the postmaster that started the run is alive');
is($node->safe_psql('postgres', "SELECT '[1,2,3]'::vector <-> '[1,2,4]'"), '1', 'the server still answers');

$node->stop;
done_testing();
