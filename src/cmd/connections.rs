//! `trailscope connections`: the run driver's steps ([`super::read::run`]), the rendering pairing
//! keys with tunnels, listing the rows in time order, reading each row's records back and
//! writing it, one row at a time.

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

use crate::state::State;
use crate::verify::Integrity;

use super::read::{self, spool_error, Command, Read, Warnings, Written};

pub(crate) fn run(plan: &ConnectionsPlan, redactor: &mut Redactor) -> Result<Outcome, FatalError> {
    read::run(&plan.read, &mut Listing { plan }, redactor)
}

struct Listing<'a> {
    plan: &'a ConnectionsPlan,
}

impl Command for Listing<'_> {
    /// The verification, as read.
    type Analysed = Option<Integrity>;

    fn analyse(
        &mut self,
        _read: &mut Read,
        integrity: Option<Integrity>,
        _state: Option<&State>,
    ) -> Result<Option<Integrity>, FatalError> {
        // The rows are picked and read back as they are written: the analysis is the rendering's.
        Ok(integrity)
    }

    fn render(
        &mut self,
        integrity: Option<Integrity>,
        read: &mut Read,
        state: Option<&State>,
        redactor: &mut Redactor,
    ) -> Result<Written, FatalError> {
        let plan = self.plan;
        let log = &plan.read.log;
        let scan = &mut read.reading;
        let activity = analysis::activity(&scan.kept, plan.window);
        let lifecycle = Lifecycle::of(&activity);
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
        // The rows were read from what was kept; the reading's warnings are taken from it now.
        let Rows { reader, redactor } = rows;
        drop((reader, listed, activity));
        let (warnings, summary, found) = Warnings::of_listing(scan, state, integrity, false, redactor)?;
        Ok(Written { baseline: None, state_line: summary, warnings, found })
    }
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
