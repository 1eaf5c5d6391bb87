//! The template context: what a template sees, built from a [`MessageInput`].
//!
//! The field names are a contract with operators who override templates; they are listed
//! in the module documentation of `render` (src/render/mod.rs). Change them only together
//! with that list and the built-in templates.
//!
//! Optional parts are `none`, never missing, so templates can test them under strict
//! undefined behaviour (`{% if item.grade %}`); texts that do not apply are empty strings.

use minijinja::Value;
use serde::Serialize;

use super::format;
use super::{Item, MessageInput, RenderError};
use crate::model::event::{Absence, Grade};
use crate::model::{EventBody, Locale, Role};
use crate::policy::NoticeKind;

/// The whole context of one rendered part (email or push).
#[derive(Debug, Clone, Serialize)]
pub struct MessageContext {
    /// "nl" or "en".
    pub locale: &'static str,
    /// "email", "webpush", "fcm", "ntfy" or "webhook".
    pub channel: &'static str,
    /// The school's name, for the signature.
    pub school: String,
    pub recipient: RecipientContext,
    /// The recipient is the student the items are about: address them directly.
    pub for_student: bool,
    /// Whether grade values and absence notes are shown in this part: always in email,
    /// in push texts only with `grades.push_shows_value`. When false they are "".
    pub show_value: bool,
    /// Number of items.
    pub count: usize,
    pub counts: Counts,
    /// First names of the students in the message, joined: "Merel en Daan".
    pub student_names: String,
    /// The items grouped per student, in order of first appearance.
    pub students: Vec<StudentContext>,
    /// All items, in the order the message lists them.
    pub items: Vec<ItemContext>,
    /// The first item (the only one in a single-item message).
    pub item: ItemContext,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecipientContext {
    pub name: String,
    pub first_name: String,
    /// "student" or "guardian".
    pub role: &'static str,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    pub grades: usize,
    pub absences: usize,
    pub corrections: usize,
    pub withdrawals: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct StudentContext {
    pub id: String,
    pub name: String,
    pub first_name: String,
    pub items: Vec<ItemContext>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StudentRef {
    pub id: String,
    pub name: String,
    pub first_name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ItemContext {
    /// "grade", "absence", "correction" or "withdrawal".
    pub kind: &'static str,
    /// What the record is: "grade" or "absence".
    pub about: &'static str,
    /// Same as the top-level `for_student` (handy inside macros).
    pub for_student: bool,
    pub event_id: String,
    pub record: String,
    pub student: StudentRef,
    /// The grade (for a withdrawal: the withdrawn grade, when known), else none.
    pub grade: Option<GradeContext>,
    /// The absence (for a withdrawal: the withdrawn one, when known), else none.
    pub absence: Option<AbsenceContext>,
    /// For a correction: the version the recipient saw before, when known, else none.
    pub previous: Option<PreviousContext>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PreviousContext {
    pub grade: Option<GradeContext>,
    pub absence: Option<AbsenceContext>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GradeContext {
    /// "Wiskunde" (the SIS subject with a capital first letter).
    pub subject: String,
    /// The subject as the SIS sent it ("wiskunde").
    pub subject_id: String,
    pub assessment: String,
    pub class: String,
    /// "Toets H3"; may be "".
    pub description: String,
    /// "5,4" (nl) / "5.4" (en); "" when values are hidden.
    pub value: String,
    /// "test", "assignment", "report", "average" or "exam".
    pub kind: &'static str,
    /// "toets" / "test", "rapportcijfer" / "report grade", …
    pub kind_text: &'static str,
    /// "2", "1,5"; "" when the SIS sent no weight.
    pub weight: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AbsenceContext {
    /// "unauthorized", "authorized", "sick", "late", "removed", "forgot_materials",
    /// "homework_missing".
    pub kind: &'static str,
    /// "ongeoorloofd afwezig" / "absent without leave", "te laat" / "late", …
    pub kind_text: &'static str,
    /// One phrase: "maandag 23 november, 1e uur (08:30–09:20)".
    pub when: String,
    /// "maandag 23 november" / "Monday 23 November".
    pub date: String,
    /// "08:30"; "" when the SIS sent a date only.
    pub time: String,
    /// The period as sent ("1"); "" when none.
    pub period: String,
    /// "1e uur" / "period 1"; "" when none.
    pub period_text: String,
    /// "Wiskunde"; "" when none.
    pub subject: String,
    /// The school's note; "" when none or when values are hidden.
    pub note: String,
}

impl MessageContext {
    /// The context as one template value, made once for all the templates of a part (an
    /// email's text and HTML). Each item is converted once and shared by `items`, `item` and
    /// its student's `items`: minijinja values are reference-counted, where handing the
    /// templates this struct converts it again for each of them, and each item three times.
    /// Equal to `Value::from_serialize(self)` (tested).
    pub fn value(&self) -> Value {
        let items: Vec<Value> = self.items.iter().map(Value::from_serialize).collect();
        let students = self
            .students
            .iter()
            .map(|s| SharedStudent {
                id: &s.id,
                name: &s.name,
                first_name: &s.first_name,
                items: (self.items.iter().zip(&items))
                    .filter(|(it, _)| it.student.id == s.id)
                    .map(|(_, v)| v.clone())
                    .collect(),
            })
            .collect();
        Value::from_serialize(Shared {
            locale: self.locale,
            channel: self.channel,
            school: &self.school,
            recipient: &self.recipient,
            for_student: self.for_student,
            show_value: self.show_value,
            count: self.count,
            counts: self.counts,
            student_names: &self.student_names,
            students,
            item: items.first().cloned().unwrap_or_default(),
            items,
        })
    }
}

/// [`MessageContext`] with its items already converted, field for field.
#[derive(Serialize)]
struct Shared<'a> {
    locale: &'static str,
    channel: &'static str,
    school: &'a str,
    recipient: &'a RecipientContext,
    for_student: bool,
    show_value: bool,
    count: usize,
    counts: Counts,
    student_names: &'a str,
    students: Vec<SharedStudent<'a>>,
    items: Vec<Value>,
    item: Value,
}

/// [`StudentContext`] with its items already converted.
#[derive(Serialize)]
struct SharedStudent<'a> {
    id: &'a str,
    name: &'a str,
    first_name: &'a str,
    items: Vec<Value>,
}

/// Builds the context; `show_value` false blanks grade values and absence notes, so that a
/// template cannot show them even by mistake.
pub fn build(input: &MessageInput<'_>, show_value: bool) -> Result<MessageContext, RenderError> {
    let locale = input.locale;
    let for_student = input.role == Role::Student;
    let items = input
        .items
        .iter()
        .map(|i| item(i, locale, for_student, show_value))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(first) = items.first().cloned() else {
        return Err(RenderError::Template {
            name: "digest".into(),
            message: "a message needs at least one notice; got none".into(),
        });
    };
    let mut students: Vec<StudentContext> = Vec::new();
    for it in &items {
        match students.iter_mut().find(|s| s.id == it.student.id) {
            Some(s) => s.items.push(it.clone()),
            None => students.push(StudentContext {
                id: it.student.id.clone(),
                name: it.student.name.clone(),
                first_name: it.student.first_name.clone(),
                items: vec![it.clone()],
            }),
        }
    }
    let names: Vec<&str> = students.iter().map(|s| s.first_name.as_str()).collect();
    let mut counts = Counts::default();
    for it in &items {
        match it.kind {
            "grade" => counts.grades += 1,
            "absence" => counts.absences += 1,
            "correction" => counts.corrections += 1,
            _ => counts.withdrawals += 1,
        }
    }
    Ok(MessageContext {
        locale: locale.as_str(),
        channel: input.channel.as_str(),
        school: input.school_name.to_string(),
        recipient: RecipientContext {
            name: input.recipient_name.to_string(),
            first_name: format::first_name(input.recipient_name).to_string(),
            role: input.role.as_str(),
        },
        for_student,
        show_value,
        count: items.len(),
        counts,
        student_names: format::join_names(&names, locale),
        students,
        item: first,
        items,
    })
}

/// The template family an item belongs to: "grade", "absence", "correction", "withdrawal".
/// Decided by the event itself where the notice kind and the event disagree, so that a
/// template never meets an item it was not written for.
pub fn item_kind(item: &Item<'_>) -> Result<&'static str, RenderError> {
    Ok(match (&item.event.body, item.kind) {
        (EventBody::GradeWithdrawn { .. } | EventBody::AbsenceWithdrawn { .. }, _) => "withdrawal",
        (_, NoticeKind::Withdrawal) => "withdrawal",
        (_, NoticeKind::Correction) => "correction",
        (EventBody::GradeEntered { .. }, _) => "grade",
        (EventBody::AbsenceRegistered { .. }, _) => "absence",
        (EventBody::AssessmentReleased { .. }, _) => {
            return Err(RenderError::Template {
                name: item.kind.as_str().into(),
                message: format!(
                    "event {} is an assessment.released, which is not a message",
                    item.event.id
                ),
            })
        }
    })
}

fn item(
    i: &Item<'_>,
    locale: Locale,
    for_student: bool,
    show: bool,
) -> Result<ItemContext, RenderError> {
    let kind = item_kind(i)?;
    let about = match &i.event.body {
        EventBody::GradeEntered { .. } | EventBody::GradeWithdrawn { .. } => "grade",
        _ => "absence",
    };
    let details = |e: Option<&crate::model::Event>| match e.map(|e| &e.body) {
        Some(EventBody::GradeEntered { grade, .. }) => (Some(grade_ctx(grade, locale, show)), None),
        Some(EventBody::AbsenceRegistered { absence, .. }) => {
            (None, Some(absence_ctx(absence, locale, show)))
        }
        _ => (None, None),
    };
    let (grade, absence, previous) = match kind {
        "withdrawal" => {
            // The withdrawal event carries no details; describe what the recipient saw.
            let shown = match &i.event.body {
                EventBody::GradeEntered { .. } | EventBody::AbsenceRegistered { .. } => {
                    Some(i.event)
                }
                _ => i.previous,
            };
            let (g, a) = details(shown);
            (g, a, None)
        }
        "correction" => {
            let (g, a) = details(Some(i.event));
            let previous = i.previous.map(|p| {
                let (grade, absence) = details(Some(p));
                PreviousContext { grade, absence }
            });
            (g, a, previous)
        }
        _ => {
            let (g, a) = details(Some(i.event));
            (g, a, None)
        }
    };
    let student_id = i.event.student().unwrap_or_default().to_string();
    Ok(ItemContext {
        kind,
        about,
        for_student,
        event_id: i.event.id.clone(),
        record: i.event.record.clone(),
        student: StudentRef {
            id: student_id,
            name: i.student_name.to_string(),
            first_name: format::first_name(i.student_name).to_string(),
        },
        grade,
        absence,
        previous,
    })
}

fn grade_ctx(g: &Grade, locale: Locale, show: bool) -> GradeContext {
    GradeContext {
        subject: format::subject(&g.subject),
        subject_id: g.subject.0.clone(),
        assessment: g.assessment.0.clone(),
        class: g.class.0.clone(),
        description: g.description.trim().to_string(),
        value: if show {
            format::decimal(&g.value.0, locale)
        } else {
            String::new()
        },
        kind: format::grade_kind_id(g.kind),
        kind_text: format::grade_kind(g.kind, locale),
        weight: g
            .weight
            .map(|w| format::number(w, locale))
            .unwrap_or_default(),
    }
}

fn absence_ctx(a: &Absence, locale: Locale, show: bool) -> AbsenceContext {
    let period = a
        .period
        .as_ref()
        .map(|p| p.0.trim().to_string())
        .unwrap_or_default();
    let period_text = format::period(&period, locale);
    let (date, time) = match format::moment(&a.start) {
        Some((d, t)) => (
            format::date(d, locale),
            t.map(format::time).unwrap_or_default(),
        ),
        None => (a.start.0.clone(), String::new()),
    };
    AbsenceContext {
        kind: a.kind.as_str(),
        kind_text: format::absence_kind(a.kind, locale),
        when: format::when(&a.start, a.end.as_ref(), &period_text, locale),
        date,
        time,
        period,
        period_text,
        subject: a
            .subject
            .as_deref()
            .map(format::subject)
            .unwrap_or_default(),
        note: if show {
            a.note.as_deref().unwrap_or_default().trim().to_string()
        } else {
            String::new()
        },
    }
}
