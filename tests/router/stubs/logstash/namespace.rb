# Stub of logstash's `logstash/namespace`: the modules the outputs live in.
module LogStash
  module Outputs
  end
end
