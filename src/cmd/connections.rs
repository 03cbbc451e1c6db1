//! `trailscope connections`: read the sources, pair keys with tunnels, list the rows in time
//! order, read each row's records back and write it, one row at a time.

use crate::analysis;
use crate::analysis::lifecycle::Lifecycle;
use crate::analysis::rows::{self, Listed, RowReader};
use crate::error::FatalError;
use crate::output::rows::Layout;
use crate::output::Sink;
use crate::plan::ConnectionsPlan;
use crate::redact::Redactor;
use crate::row::Row;
use crate::Outcome;

use super::read::{listed_read, open_state, spool_error};
use super::verify;

pub(crate) fn run(plan: &ConnectionsPlan, redactor: &mut Redactor) -> Result<Outcome, FatalError> {
    let state = open_state(&plan.read)?;
    let (read, integrity) = verify::read(&plan.read, state.as_ref(), redactor)?;
    let log = &plan.read.log;
    let scan = read.scan;
    let activity = analysis::activity(&scan.kept, plan.window);
    let lifecycle = Lifecycle::of(&activity).map_err(spool_error)?;
    let mut filter = plan.filter.clone();
    if let Some(id) = &plan.finding {
        // The rows of one finding: its evidence, as the rules found it under these thresholds.
        let found = analysis::findings::find_with_evidence(&activity, &lifecycle, &plan.rules)
            .map_err(spool_error)?;
        let (_, evidence) = found
            .into_iter()
            .find(|(f, _)| &f.id == id)
            .ok_or_else(|| FatalError::NoSuchFinding(id.clone()))?;
        filter.events = Some(evidence.iter().map(|e| e.origin).collect());
    }
    let listed = rows::list(&activity, &filter);
    log.stage(format_args!(
        "paired: {} rows listed of {} tunnels, {} direct and {} serial-console keys",
        listed.len(),
        activity.tunnels.len(),
        activity.direct_keys.len(),
        activity.serial_console_keys.len()
    ));
    let reader = RowReader::new(&scan.kept).with_names(lifecycle.names());
    let mut rows = Rows { reader, redactor };
    let mut layout = Layout::new(plan.format);
    if let Layout::Table(table) = &mut layout {
        // A first pass for the widths only: the rows are read again to be written.
        for listed in &listed {
            table.measure(&rows.row(listed)?);
        }
    }
    let mut sink = Sink::create(plan.output.as_deref())?;
    layout.header(&mut sink).map_err(|e| sink.failed(e))?;
    for listed in &listed {
        if sink.closed() {
            break;
        }
        let row = rows.row(listed)?;
        layout.row(&row, &mut sink).map_err(|e| sink.failed(e))?;
    }
    sink.finish()?;
    log.stage(format_args!("wrote {} rows", listed.len()));
    // The rows are written: what they borrowed of the scan is let go.
    let Rows { reader, redactor } = rows;
    drop(reader);
    let found = listed_read(&plan.read, scan, state, integrity, None, redactor)?;
    Ok(super::outcome(found))
}

/// Rows read back and, with `--redact`, redacted: the pseudonyms run on from row to row, so
/// equal values get equal pseudonyms in every pass.
struct Rows<'k, 'r> {
    reader: RowReader<'k>,
    redactor: &'r mut Redactor,
}

impl Rows<'_, '_> {
    fn row(&mut self, listed: &Listed<'_>) -> Result<Row, FatalError> {
        let mut row = self.reader.row(listed).map_err(spool_error)?;
        self.redactor.row(&mut row);
        Ok(row)
    }
}
