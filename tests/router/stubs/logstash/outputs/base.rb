# Stub of logstash 1.1's `LogStash::Outputs::Base`: just what
# logstash-metlog's Sentry outputs use. `config_name` registers the output
# under its name (as logstash's plugin lookup finds it), `config` declares an
# option (its default applied, a `:required` one checked), `output?` passes
# every event (no tags configured), and the logger writes one JSON line per
# call to stderr.
require "json"
require "logstash/namespace"

class LogStash::Outputs::Base
  # Writes `{"level", "message", ...data}` as one JSON line to stderr.
  class Logger
    %w[debug info warn error].each do |level|
      define_method(level) do |message, data = {}|
        line = { "level" => level, "message" => message }
        data.each { |k, v| line[k.to_s] = v }
        $stderr.puts(JSON.generate(line))
      end
    end
  end

  # Output name => class, filled by `config_name`.
  REGISTRY = {}

  def self.config_name(name)
    REGISTRY[name] = self
  end

  def self.plugin_status(status)
  end

  # Option name => declaration (`:validate`, `:default`, `:required`).
  def self.options
    @options ||= {}
  end

  def self.config(name, opts = {})
    options[name.to_s] = opts
  end

  def initialize(params = {})
    @logger = Logger.new
    self.class.options.each do |name, opts|
      value = params.fetch(name) { opts[:default] }
      raise ArgumentError, "#{self.class}: option #{name} is required" if value.nil? && opts[:required]
      instance_variable_set("@#{name}", value)
    end
    unknown = params.keys - self.class.options.keys
    raise ArgumentError, "#{self.class}: unknown options #{unknown}" unless unknown.empty?
  end

  def output?(event)
    true
  end
end
