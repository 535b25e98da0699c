// The dashboard body of template.yaml's RotationDashboard, widget for widget (docs/operations.md, "Dashboard"): the
// errors alarm; what each step did, from the function's embedded-metric-format lines (Duration and Failed by Step and
// Outcome, src/metrics.rs); Lambda's own metrics. The metrics' only dimension set is {Step, Outcome}, so a widget
// names both per metric or searches the schema {namespace, Step, Outcome}. The step widgets are left out when the
// metrics namespace is empty (no metric lines are written).
import { Aws } from 'aws-cdk-lib';

export interface DashboardInputs {
  readonly alarmArn: string;
  readonly functionName: string;
  readonly metricsNamespace: string;
}

const STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'];

export function dashboardWidgets(inputs: DashboardInputs): object[] {
  const region = Aws.REGION;
  const ns = inputs.metricsNamespace;
  const fn = inputs.functionName;
  const widgets: object[] = [
    {
      type: 'alarm', x: 0, y: 0, width: 6, height: 6,
      properties: { title: 'Errors alarm', alarms: [inputs.alarmArn] },
    },
  ];
  if (ns !== '') {
    widgets.push(
      {
        type: 'metric', x: 6, y: 0, width: 6, height: 6,
        properties: {
          title: 'Steps by step and outcome, over the time range', region,
          view: 'bar', setPeriodToTimeRange: true,
          metrics: [[{
            id: 'steps', label: "${PROP('Dim.Step')} ${PROP('Dim.Outcome')}",
            expression: `SEARCH('{"${ns}",Step,Outcome} MetricName="Duration"', 'SampleCount')`,
          }]],
        },
      },
      {
        type: 'metric', x: 12, y: 0, width: 6, height: 6,
        properties: {
          title: 'Failed steps by error type', region,
          view: 'timeSeries', stacked: true, period: 300,
          metrics: [[{
            id: 'failed', label: "${PROP('Dim.Outcome')} (${PROP('Dim.Step')})",
            expression: `SEARCH('{"${ns}",Step,Outcome} MetricName="Failed" NOT Outcome="ok"', 'Sum')`,
          }]],
        },
      },
      {
        type: 'metric', x: 18, y: 0, width: 6, height: 6,
        properties: {
          title: 'Duration of successful steps (ms)', region,
          view: 'timeSeries', period: 300,
          metrics: STEPS.flatMap((step) => ['p50', 'p99'].map((stat) => [
            ns, 'Duration', 'Step', step, 'Outcome', 'ok', { stat, label: `${step} ${stat}` },
          ])),
        },
      },
    );
  }
  widgets.push(
    {
      type: 'metric', x: 0, y: 6, width: 8, height: 6,
      properties: {
        title: 'Lambda invocations, errors and throttles', region,
        view: 'timeSeries', stat: 'Sum', period: 300,
        metrics: ['Invocations', 'Errors', 'Throttles'].map((name) => ['AWS/Lambda', name, 'FunctionName', fn]),
      },
    },
    {
      type: 'metric', x: 8, y: 6, width: 8, height: 6,
      properties: {
        title: 'Lambda duration (ms)', region,
        view: 'timeSeries', period: 300,
        metrics: ['Average', 'Maximum'].map((stat) => [
          'AWS/Lambda', 'Duration', 'FunctionName', fn, { stat, label: stat },
        ]),
      },
    },
    {
      type: 'metric', x: 16, y: 6, width: 8, height: 6,
      properties: {
        title: 'Lambda concurrent executions', region,
        view: 'timeSeries', stat: 'Maximum', period: 300,
        metrics: [['AWS/Lambda', 'ConcurrentExecutions', 'FunctionName', fn]],
      },
    },
  );
  return widgets;
}
