// The one function of parse-prometheus-text-format the tests call (the package ships no types).
// Values stay strings, as the parser gives them ("1", "+Inf", "NaN").

declare module 'parse-prometheus-text-format' {
  export interface PrometheusSample {
    value?: string
    labels?: Record<string, string>
    /** Histograms: bucket upper bound ("0.1", "+Inf") to cumulative count. */
    buckets?: Record<string, string>
    /** Summaries: quantile to value. */
    quantiles?: Record<string, string>
    count?: string
    sum?: string
  }
  export interface PrometheusFamily {
    name: string
    help: string
    type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED'
    metrics: PrometheusSample[]
  }
  export default function parsePrometheusTextFormat (text: string): PrometheusFamily[]
}
