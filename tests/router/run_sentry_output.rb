# Runs one of logstash-metlog's Sentry outputs (vendored unmodified in
# logstash-metlog/) as the router does, outside logstash:
#
#   ruby run_sentry_output.rb metlog_sentry DSN < messages.jsonl
#   ruby run_sentry_output.rb metlog_sentry_dsn < messages.jsonl
#
# Loads the output, `register`s it (which starts its sending thread), parses
# each line of stdin as a metlog message (the Hash logstash-metlog's input
# hands on: 'type', 'payload', 'fields', ...), gives each to `receive`, then
# waits until the output's queue is drained: empty, with its sending thread
# back waiting on it (every event taken has been sent).
#
# Exit status: 0 when every event was handled; 3 when the sending thread
# died (its exception and the number of events left unsent go to stderr, as
# one JSON line `{"thread_died": ..., "unsent": n}`); 4 when the queue did
# not drain within the deadline. Each output loads in a process of its own:
# both files define the same class, LogStash::Outputs::MetlogSentry.
require "json"

here = File.expand_path(__dir__)
$LOAD_PATH.unshift(File.join(here, "logstash-metlog", "src"))
$LOAD_PATH.unshift(File.join(here, "stubs"))
require "logstash/outputs/base"

name = ARGV.fetch(0) { abort("usage: run_sentry_output.rb OUTPUT [DSN] < messages.jsonl") }
require "logstash/outputs/#{name}"
params = ARGV[1] ? { "dsn" => ARGV[1] } : {}
Thread.report_on_exception = false # reported below, once
output = LogStash::Outputs::Base::REGISTRY.fetch(name).new(params)
output.register

$stdin.each_line do |line|
  next if line.strip.empty?
  output.receive(JSON.parse(line))
end

holder = output.instance_variable_get(:@sentry_holder)
queue = holder.instance_variable_get(:@queue)
thread = output.instance_variable_get(:@push_thread)
# Bounds a failure only: a healthy output drains in milliseconds.
deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 60
loop do
  unless thread.alive?
    begin
      thread.join
      error = "the sending thread ended"
    rescue Exception => e
      error = "#{e.class}: #{e.message}"
    end
    $stderr.puts(JSON.generate({ "thread_died" => error, "unsent" => queue.size }))
    exit 3
  end
  break if queue.empty? && queue.num_waiting == 1
  if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
    $stderr.puts(JSON.generate({ "not_drained" => queue.size }))
    exit 4
  end
  sleep 0.01
end
exit 0
