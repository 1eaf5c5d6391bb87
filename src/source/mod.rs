//! Where events come from. A source hands raw bytes to the [`Ingestor`](crate::ingest::Ingestor)
//! and acknowledges upstream only after it returned `Ok` (the batch is committed).

pub mod amqp;
pub mod export;
pub mod health;
pub mod http;
pub mod nats;
pub mod poll;
pub mod sis;
pub mod sis_directory;
pub mod smartschool;
pub mod somtoday;
mod support;

use async_trait::async_trait;
use tokio::sync::watch;

#[async_trait]
pub trait Source: Send {
    /// For logs and health: "http 127.0.0.1:8425", "nats orders.grades", …
    fn name(&self) -> String;
    /// Runs until `stop` turns true, then finishes what it acknowledged and returns.
    async fn run(self: Box<Self>, stop: watch::Receiver<bool>) -> Result<(), String>;
}

#[async_trait]
impl Source for http::HttpSource {
    fn name(&self) -> String {
        format!("http {}", self.local_addr())
    }

    async fn run(self: Box<Self>, stop: watch::Receiver<bool>) -> Result<(), String> {
        self.serve(stop).await.map_err(|e| e.to_string())
    }
}

#[async_trait]
impl Source for nats::NatsSource {
    fn name(&self) -> String {
        nats::NatsSource::name(self)
    }

    async fn run(self: Box<Self>, stop: watch::Receiver<bool>) -> Result<(), String> {
        self.serve(stop).await.map_err(|e| e.to_string())
    }
}

#[async_trait]
impl Source for amqp::AmqpSource {
    fn name(&self) -> String {
        amqp::AmqpSource::name(self)
    }

    async fn run(self: Box<Self>, stop: watch::Receiver<bool>) -> Result<(), String> {
        self.serve(stop).await.map_err(|e| e.to_string())
    }
}
