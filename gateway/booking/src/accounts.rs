//! What the registrar's back office sets and bookings are checked against: account debts
//! (P27) and the vehicle lists of the postal operator and AEOs (P6.1, P6.2).

use super::engine::BookingEngine;
use super::rules::{BookingError, PriorityCategory};
use kezek_domain::plate::plate_key;
use kezek_store::{Columns, Tx};

impl BookingEngine {
    /// P27: the registrar's billing sets an account's debt; any debt blocks booking.
    pub async fn set_debt(&self, account: &str, debt_kzt: i64) -> Result<(), BookingError> {
        let account = account.to_owned();
        let now = self.clock.now().unix_timestamp();
        self.store
            .transact(move |tx| {
                tx.execute(
                    "INSERT INTO accounts (id, debt_kzt, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (id) DO UPDATE SET debt_kzt = $2, updated_at = $3",
                    &[(&account).into(), debt_kzt.into(), now.into()],
                )?;
                Ok(())
            })
            .await
    }

    /// P6.1, P6.2: replaces the list of vehicles sent in advance for a category.
    pub async fn set_priority_list(
        &self,
        category: PriorityCategory,
        plates: Vec<(String, String)>,
    ) -> Result<usize, BookingError> {
        let keys: Vec<String> = plates.iter().map(|(c, p)| plate_key(c, p)).collect();
        self.store
            .transact(move |tx| {
                tx.execute(
                    "DELETE FROM priority_vehicles WHERE category = $1",
                    &[category.as_str().into()],
                )?;
                for k in &keys {
                    tx.execute(
                        "INSERT INTO priority_vehicles (category, plate_key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        &[category.as_str().into(), k.into()],
                    )?;
                }
                Ok(keys.len())
            })
            .await
    }

    /// P27, before verifying: an account in debt is refused early.
    pub(super) async fn check_debt(&self, account: &str) -> Result<(), BookingError> {
        let account = account.to_owned();
        self.store
            .transact(move |tx| match debt(tx, &account)? {
                Some(d) if d > 0 => Err(debt_error(d)),
                _ => Ok(()),
            })
            .await
    }
}

// ---- transaction steps (run inside `Store::transact`) ----

/// P27 again, inside the booking's transaction: the debt may have been set since
/// [`BookingEngine::check_debt`].
pub(super) fn debt_in_tx(tx: &mut dyn Tx, account: &str, now: i64) -> Result<(), BookingError> {
    tx.execute(
        "INSERT INTO accounts (id, debt_kzt, updated_at) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING",
        &[account.into(), now.into()],
    )?;
    match debt(tx, account)? {
        Some(d) if d > 0 => Err(debt_error(d)),
        _ => Ok(()),
    }
}

/// P27: the account's debt, if it has a row.
fn debt(tx: &mut dyn Tx, account: &str) -> Result<Option<i64>, BookingError> {
    let rows = tx.query(
        "SELECT debt_kzt FROM accounts WHERE id = $1",
        &[account.into()],
    )?;
    match rows.first() {
        Some(r) => Ok(Some(Columns::new("debt_kzt", r)?.int("debt_kzt")?)),
        None => Ok(None),
    }
}

fn debt_error(debt: i64) -> BookingError {
    BookingError::rule(
        "P27",
        403,
        format!("the account owes {debt} KZT; booking resumes once the debt is paid in full"),
    )
}

/// P6.1, P6.2: a category served from a list needs the vehicle on it.
pub(super) fn check_listed(
    tx: &mut dyn Tx,
    category: PriorityCategory,
    plate: &str,
) -> Result<(), BookingError> {
    if !category.needs_list() {
        return Ok(());
    }
    let listed = tx.query(
        "SELECT plate_key FROM priority_vehicles WHERE category = $1 AND plate_key = $2",
        &[category.as_str().into(), plate.into()],
    )?;
    if listed.is_empty() {
        return Err(BookingError::at(
            "P6",
            403,
            "/priority",
            format!(
                "the vehicle is not on the {} list sent in advance",
                category.as_str()
            ),
        ));
    }
    Ok(())
}
